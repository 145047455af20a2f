/**
 * The real API as a separate process, as production runs it (`node --import tsx src/api/main.ts`, the image's
 * command), for the `api_load` scenario (bench/api-load.ts): its own event loop and its own Postgres pool, so
 * that what the load does to the API is not mixed with the bench's own work, and what it does to the worker
 * (in the bench process) goes through the machine as it would in production.
 *
 * `startApiProcess` waits for GET /readyz to answer 200 (bounded), then fetches the dashboard's bundle once
 * (the API builds it at start; built now, it is not built during a measurement). `stop()` sends SIGTERM, then
 * SIGKILL after a bound; it is safe to call twice (the run's Shutdown calls it again at the end).
 *
 * The process logs JSON lines on stdout (LOG_LEVEL=warn: warnings and errors only). They are counted and the
 * first of each message kept, so that the figures say what the API complained about under load.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sleep } from '../src/process/timeouts.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const READY_TIMEOUT_MS = 60_000;
const READY_POLL_MS = 200;
/** The API's own shutdown: 5 s of grace for in-flight requests, then its pools close (src/api/server.ts). */
const TERM_GRACE_MS = 15_000;
const KILL_GRACE_MS = 5_000;
const TAIL_LINES = 40;
const KEPT_MESSAGES = 10;

export interface ApiLogSummary {
  warnings: number;
  errors: number;
  /** Each distinct message (level: msg), with how often it came, in the order first seen (at most KEPT_MESSAGES). */
  messages: Array<{ message: string; count: number; example: string }>;
  /** Output lines that were not JSON log lines (a crash's stack, say), the last ones. */
  other: string[];
}

export interface ApiProcess {
  url: string;
  pid: number;
  /** What the process logged so far. */
  logs(): ApiLogSummary;
  /** SIGTERM, SIGKILL after a bound; resolves once the process is gone. How it ended. */
  stop(): Promise<string>;
}

/** Collects a process's log lines: counts by level, the distinct messages, a tail of anything else (bench/worker-process.ts too). */
export class LogCollector {
  warnings = 0;
  errors = 0;
  readonly #messages = new Map<string, { count: number; example: string }>();
  readonly #other: string[] = [];
  #partial = '';

  feed(chunk: Buffer): void {
    const text = this.#partial + chunk.toString('utf8');
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) this.#line(line);
  }

  #line(line: string): void {
    if (!line.trim()) return;
    let entry: { level?: unknown; msg?: unknown } | null = null;
    try {
      entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
    } catch {
      entry = null;
    }
    if (!entry || typeof entry.level !== 'string') {
      this.#other.push(line.slice(0, 500));
      if (this.#other.length > TAIL_LINES) this.#other.shift();
      return;
    }
    if (entry.level === 'warn') this.warnings++;
    if (entry.level === 'error' || entry.level === 'fatal') this.errors++;
    const key = `${entry.level}: ${String(entry.msg)}`;
    const seen = this.#messages.get(key);
    if (seen) seen.count++;
    else if (this.#messages.size < KEPT_MESSAGES) this.#messages.set(key, { count: 1, example: line.slice(0, 1_000) });
  }

  summary(): ApiLogSummary {
    return {
      warnings: this.warnings,
      errors: this.errors,
      messages: [...this.#messages].map(([message, m]) => ({ message, ...m })),
      other: [...this.#other],
    };
  }
}

/**
 * Stops a child process once however often it is called: SIGTERM, then SIGKILL when it has not exited within
 * `termGraceMs`; resolves with how it ended (or why it would not).
 */
export function stopOnce(child: ChildProcess, exited: Promise<string>, ended: () => string | null, termGraceMs: number): () => Promise<string> {
  let stopping: Promise<string> | null = null;
  return () => {
    stopping ??= (async () => {
      const already = ended();
      if (already) return already;
      child.kill('SIGTERM');
      const term = await Promise.race([exited, sleep(termGraceMs).then(() => null)]);
      if (term) return term;
      child.kill('SIGKILL');
      const kill = await Promise.race([exited, sleep(KILL_GRACE_MS).then(() => null)]);
      return kill ? `did not stop within ${termGraceMs / 1000} s of SIGTERM; ${kill}` : 'did not stop, even after SIGKILL';
    })();
    return stopping;
  };
}

/** Starts `node --import tsx src/api/main.ts` with exactly `env` (plus PATH, HOME, TMPDIR) and waits until it is ready. */
export async function startApiProcess(env: Record<string, string>, port: number): Promise<ApiProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/api/main.ts'], {
    cwd: ROOT,
    env: {
      ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
      ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
      ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
      ...env,
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = new LogCollector();
  child.stdout.on('data', (chunk: Buffer) => logs.feed(chunk));
  child.stderr.on('data', (chunk: Buffer) => logs.feed(chunk));
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exited with ${code}`));
    child.once('error', (err) => resolve(`could not run: ${err.message}`));
  });
  let ended: string | null = null;
  void exited.then((how) => (ended = how));

  const stop = stopOnce(child, exited, () => ended, TERM_GRACE_MS);

  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(url, () => ended);
    // the dashboard's bundle, which the API builds at start: built now rather than during a phase
    await fetch(`${url}/console/app.js`, { signal: AbortSignal.timeout(30_000) }).then((res) => res.arrayBuffer()).catch(() => {});
  } catch (err) {
    await stop();
    const tail = [...logs.summary().other.slice(-10), ...logs.summary().messages.map((m) => m.example)].join('\n');
    throw new Error(`${(err as Error).message}${tail ? `; its output:\n${tail}` : ''}`);
  }
  return { url, pid: child.pid ?? -1, logs: () => logs.summary(), stop };
}

async function waitUntilReady(url: string, ended: () => string | null): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const how = ended();
    if (how) throw new Error(`the API process ${how} before it was ready`);
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3_000) });
      const body = await res.text();
      if (res.status === 200) return;
      last = `${res.status} ${body.slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(READY_POLL_MS);
  }
  throw new Error(`the API process was not ready within ${READY_TIMEOUT_MS / 1000} s (GET /readyz: ${last})`);
}
