/**
 * A worker as production runs it (`node --import tsx src/worker/main.ts`), for the `watch_fanout` scenario
 * (bench/watch-fanout.ts): the process that runs the watch's ticks and batches and dispatches and sends the
 * webhooks, with everything `npm run worker` starts beside its Temporal worker (the outbox dispatcher, the queue
 * watch, its schedules), on a task queue of the scenario's own. The bench's in-process worker does not take part.
 *
 * `startWorkerProcess` resolves once the worker logged that it polls (bounded); `stop()` sends SIGTERM (the
 * worker shuts down gracefully), SIGKILL after a bound, and is safe to call twice. Its log lines are counted as
 * the API process's are (bench/api-process.ts), so that the figures say what the worker complained about.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sleep } from '../src/process/timeouts.js';
import { LogCollector, stopOnce, type ApiLogSummary } from './api-process.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const START_TIMEOUT_MS = 90_000;
/** The worker's own shutdown waits up to 20 s for in-flight activities (src/worker/worker.ts). */
const TERM_GRACE_MS = 30_000;
const STARTED = '"worker started"';

export interface WorkerProcess {
  pid: number;
  logs(): ApiLogSummary;
  /** The most memory the process held so far (VmHWM), in MB; null where /proc does not say. */
  peakRssMb(): number | null;
  /** SIGTERM, SIGKILL after a bound; resolves once the process is gone. How it ended. */
  stop(): Promise<string>;
}

/** Starts the worker with exactly `env` (plus PATH, HOME, TMPDIR) and waits until it polls. */
export async function startWorkerProcess(env: Record<string, string>): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
    cwd: ROOT,
    env: {
      ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
      ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
      ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = new LogCollector();
  let started = false;
  const feed = (chunk: Buffer) => {
    if (!started && chunk.toString('utf8').includes(STARTED)) started = true;
    logs.feed(chunk);
  };
  child.stdout.on('data', feed);
  child.stderr.on('data', feed);
  let ended: string | null = null;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve((ended = signal ? `killed by ${signal}` : `exited with ${code}`)));
    child.once('error', (err) => resolve((ended = `could not run: ${err.message}`)));
  });

  const stop = stopOnce(child, exited, () => ended, TERM_GRACE_MS);

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!started) {
    const failure = ended ? `the worker process ${ended} before it polled` : Date.now() > deadline ? `the worker process did not poll within ${START_TIMEOUT_MS / 1000} s` : null;
    if (failure) {
      await stop();
      const tail = [...logs.summary().other.slice(-10), ...logs.summary().messages.map((m) => m.example)].join('\n');
      throw new Error(`${failure}${tail ? `; its output:\n${tail}` : ''}`);
    }
    await sleep(100);
  }
  return { pid: child.pid ?? -1, logs: () => logs.summary(), peakRssMb: () => peakRssMb(child.pid), stop };
}

function peakRssMb(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : null;
  } catch {
    return null;
  }
}
