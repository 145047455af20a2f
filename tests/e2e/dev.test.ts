/**
 * `npm run dev` as a person runs it on a machine with no Postgres: a child process in a process group of its
 * own (as a terminal would run it), with DATABASE_URL unset and the address where it looks for Postgres
 * (DEV_POSTGRES_PORT) closed, so it starts its embedded Postgres, in a temporary data directory and on ports
 * of its own, so it never clashes with anything else on the machine. It must become ready, run its demo batch
 * to the end, serve the Temporal Web UI, stop on SIGINT with exit code 0 and leave no process (the embedded
 * Postgres included) and no open port behind; a second run on the same data must find the first run's
 * database, converge to the same demo data and still know the first run's workflows. Its local webhook receiver
 * must get the demo batch's batch.completed and a ping, both verified with the demo webhook's secret; the demo
 * watch is kept across runs, and the demo webhook made anew.
 *
 * The child is the project's `tsx` on src/dev/main.ts, which is what `npm run dev` runs: npm and npx themselves
 * exit with 130 after a Ctrl-C whatever the script returns, which would hide the launcher's own exit code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_WATCH_NAME, DEMO_WEBHOOK_DESCRIPTION } from '../../src/dev/demo-watch-webhook.js';
import { freePort, portAnswers } from '../../src/local/ports.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const DEMO_PROFILES = 40;
/** The demo adds two profiles the simulator does not know. */
const DEMO_TOTAL = DEMO_PROFILES + 2;
const PROXIES = 3;

// API bodies are whatever the server returns; each test asserts the fields it relies on
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

interface DevRun {
  child: ChildProcess;
  /** The process group (the child's pid). */
  pgid: number;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  done: boolean;
}

const runs: DevRun[] = [];
let dataDir: string;
let databaseUrl: string;
let ports: { api: number; temporal: number; ui: number; sim: number; postgres: number };

function startDev(): DevRun {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DEV_POSTGRES_PORT: String(ports.postgres),
    DEV_DATA_DIR: dataDir,
    PORT: String(ports.api),
    DEV_TEMPORAL_PORT: String(ports.temporal),
    DEV_TEMPORAL_UI_PORT: String(ports.ui),
    DEV_SIM_PORT: String(ports.sim),
    DEV_DEMO_PROFILES: String(DEMO_PROFILES),
    DEV_PROXIES: String(PROXIES),
    LOG_LEVEL: 'info',
  };
  // this test is about the launcher's own Postgres and Temporal server and an open local API
  for (const name of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE', 'API_KEY', 'STORY_API_BASE_URL', 'HOST']) {
    delete env[name];
  }
  const child = spawn(TSX, ['src/dev/main.ts'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const run: DevRun = {
    child,
    pgid: child.pid!,
    output: () => out,
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
    done: false,
  };
  void run.exited.then(() => (run.done = true));
  runs.push(run);
  return run;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids of processes whose command line mentions `text` (the Temporal server names the data dir). */
function processesMentioning(text: string): number[] {
  if (!existsSync('/proc')) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Waits for `fn` while `npm run dev` runs; fails with its output when it exits or the time runs out. */
function waitForDev<T>(run: DevRun, what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
  return waitFor(
    async () => {
      if (run.done) throw new Error(`npm run dev exited while waiting for ${what}; its output:\n${run.output()}`);
      return fn().catch(() => null);
    },
    { timeoutMs, stepMs: 250, what: () => `${what}; output so far:\n${run.output()}\n` },
  );
}

async function api(path: string): Promise<Json> {
  const res = await fetch(`http://127.0.0.1:${ports.api}${path}`);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  return res.json();
}

async function post(path: string): Promise<Json> {
  const res = await fetch(`http://127.0.0.1:${ports.api}${path}`, { method: 'POST' });
  if (res.status >= 300) throw new Error(`POST ${path}: ${res.status}`);
  return res.json();
}

/** The local webhook receiver's address, as the banner gives it. */
function receiverUrl(run: DevRun): string {
  const found = /^ {2}Receiver +(http:\/\/127\.0\.0\.1:\d+\/)/m.exec(run.output());
  if (!found) throw new Error(`the banner names no receiver; output:\n${run.output()}`);
  return found[1]!;
}

/** What the receiver got (newest first) once one matches `wanted`. */
function waitForReceived(run: DevRun, what: string, wanted: (r: Json) => boolean): Promise<Json> {
  return waitForDev(
    run,
    what,
    async () => {
      const { items } = (await (await fetch(receiverUrl(run))).json()) as { items: Json[] };
      return items.find(wanted);
    },
    60_000,
  );
}

/** The demo webhook and the demo watch, as the API shows them. */
async function demoWebhooksAndWatches(): Promise<{ webhooks: Json[]; watches: Json[] }> {
  const webhooks = ((await api('/webhooks?limit=100')).items as Json[]).filter((w) => w.description === DEMO_WEBHOOK_DESCRIPTION);
  const watches = ((await api('/watches?limit=100')).items as Json[]).filter((w) => w.name === DEMO_WATCH_NAME);
  return { webhooks, watches };
}

async function waitForDemoBatchDone(run: DevRun, except: Set<string> = new Set()): Promise<Json> {
  return waitForDev(
    run,
    'the demo batch to finish',
    async () => {
      const { items } = await api('/batches?limit=100');
      const demo = (items as Json[]).find((b) => b.name === 'demo' && !except.has(b.id));
      return demo?.status === 'done' && demo;
    },
    90_000,
  );
}

/** SIGINT to the whole group, as Ctrl-C in a terminal; returns the exit and how long it took. */
async function interrupt(run: DevRun): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const started = Date.now();
  process.kill(-run.pgid, 'SIGINT');
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 45_000));
  const result = await Promise.race([run.exited, timeout]);
  if (result === 'timeout') throw new Error(`npm run dev did not stop within 45 s after SIGINT; output:\n${run.output()}`);
  return { ...result, ms: Date.now() - started };
}

async function expectNothingLeft(run: DevRun): Promise<void> {
  // the launcher's group (tsx and node) and the Temporal server's own group are gone
  await new Promise((r) => setTimeout(r, 200));
  expect(groupAlive(run.pgid)).toBe(false);
  expect(processesMentioning(dataDir)).toEqual([]);
  for (const [name, port] of Object.entries(ports)) {
    expect(await portAnswers('127.0.0.1', port), `${name} port ${port} still open`).toBe(false);
  }
}

async function secrets(): Promise<string[]> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ secret: string }[]>`
      select password as secret from proxies where password is not null union all select token from sessions
      union all select secret from webhook_secrets`;
    return rows.map((r) => r.secret);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function demoCounts(): Promise<Record<string, number>> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<Record<string, number>[]>`
      select (select count(*)::int from niches) as niches, (select count(*)::int from profiles) as profiles,
             (select count(*)::int from proxies) as proxies, (select count(*)::int from sessions) as sessions,
             (select count(*)::int from batches where name = 'demo') as demo_batches`;
    return row!;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'storycheck-dev-'));
  // as root the embedded Postgres runs as an unprivileged user, which must be able to enter this folder
  chmodSync(dataDir, 0o755);
  const picked = new Set<number>();
  while (picked.size < 5) picked.add(await freePort());
  const [apiPort, temporal, ui, sim, pg] = [...picked] as [number, number, number, number, number];
  ports = { api: apiPort, temporal, ui, sim, postgres: pg };
  // nothing answers there: the launcher must start its own
  databaseUrl = `postgres://postgres@127.0.0.1:${pg}/storycheck`;
});

afterAll(async () => {
  // whatever happened above, nothing this file started survives it
  for (const run of runs) {
    if (groupAlive(run.pgid)) {
      try {
        process.kill(-run.pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  if (dataDir) {
    for (const pid of processesMentioning(dataDir)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
});

describe('npm run dev (e2e)', () => {
  let firstDemoId = '';
  let firstWebhookId = '';
  let firstWatchId = '';

  it('starts everything (an embedded Postgres too), runs the demo batch to done, serves the Web UI and stops cleanly on SIGINT', async () => {
    expect(await portAnswers('127.0.0.1', ports.postgres)).toBe(false);
    const run = startDev();
    const started = Date.now();
    const ready = await waitForDev(
      run,
      '/readyz',
      async () => {
        const res = await fetch(`http://127.0.0.1:${ports.api}/readyz`);
        return res.status === 200 && ((await res.json()) as Json);
      },
      120_000,
    );
    expect(ready).toEqual({ status: 'ready', postgres: 'ok', temporal: 'ok' });
    const readyMs = Date.now() - started;

    const demo = await waitForDemoBatchDone(run);
    firstDemoId = demo.id;
    expect(demo).toMatchObject({ total_profiles: DEMO_TOTAL, completed_profiles: DEMO_TOTAL, failed_checks: 2, completion_rate: 1 });
    expect((await api(`/batches/${demo.id}/logs?event_type=CHECK_FAILED`)).items).toHaveLength(2);
    expect((await api('/proxies')).items).toHaveLength(PROXIES);

    // the Web UI and the docs answer; the banner says where everything is
    const ui = await fetch(`http://127.0.0.1:${ports.ui}/`);
    expect(ui.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${ports.api}/docs`)).status).toBe(200);
    expect(run.output()).toContain(`http://127.0.0.1:${ports.api}/docs`);
    expect(run.output()).toContain(`http://127.0.0.1:${ports.ui}/namespaces/default/workflows`);
    expect(run.output()).toContain(`curl -sN http://127.0.0.1:${ports.api}/batches/${demo.id}/events`);
    // it said it started an embedded Postgres, and where its data lives
    expect(run.output()).toContain(`no Postgres answers at 127.0.0.1:${ports.postgres} and DATABASE_URL is unset: starting an embedded Postgres`);
    // (followed by where the binaries run from, as root in a checkout the server's user cannot enter)
    expect(run.output()).toContain(`(embedded, data in ${join(dataDir, 'postgres')}`);
    expect(run.output()).toContain(`initialised a new Postgres cluster in ${join(dataDir, 'postgres')}`);
    expect(existsSync(join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);

    // the demo webhook sends to the local receiver, which verified the demo batch's batch.completed with its secret
    const { webhooks, watches } = await demoWebhooksAndWatches();
    expect(webhooks).toHaveLength(1);
    const [hook] = webhooks;
    expect(hook).toMatchObject({ url: `${receiverUrl(run)}webhooks`, enabled: true });
    expect([...hook.events].sort()).toEqual(['batch.completed', 'batch.stalled', 'story.ended', 'story.posted']);
    const completed = await waitForReceived(run, "the demo batch's batch.completed at the receiver", (r) => r.type === 'batch.completed' && r.body?.data?.batch_id === demo.id);
    expect(completed.verified).toBe(true);
    // and a ping from the test route, signed with the same secret
    const ping = await post(`/webhooks/${hook.id}/test`);
    const pinged = await waitForReceived(run, 'the ping at the receiver', (r) => r.type === 'ping' && r.webhook_id === ping.message_id);
    expect(pinged.verified).toBe(true);
    expect(run.output()).toContain('webhook received, signature verified');
    expect(run.output()).not.toContain('signature NOT verified');
    expect((await api(`/webhooks/${hook.id}/deliveries?status=delivered`)).items.length).toBeGreaterThanOrEqual(2);
    // the demo watch re-checks the first demo niche every minute; the banner says where all of it shows
    const fashion = ((await api('/niches?limit=100')).items as Json[]).find((n) => n.name === 'fashion');
    expect(watches).toHaveLength(1);
    expect(watches[0]).toMatchObject({ niche_id: fashion.id, every_s: 60, paused: false });
    expect(run.output()).toContain(`Demo watch ${watches[0].id} re-checks niche fashion every 60 s (created)`);
    expect(run.output()).toContain(`curl -s http://127.0.0.1:${ports.api}/webhooks/${hook.id}/deliveries`);
    expect(run.output()).toContain(`http://127.0.0.1:${ports.api}/#/webhooks`);
    firstWebhookId = hook.id;
    firstWatchId = watches[0].id;

    // no proxy password, session token or webhook secret ever reached the terminal
    const stored = await secrets();
    expect(stored.length).toBe(PROXIES + 2 + 1);
    for (const secret of stored) expect(run.output()).not.toContain(secret);

    const stop = await interrupt(run);
    expect(stop, run.output().slice(-3000)).toMatchObject({ code: 0, signal: null });
    expect(stop.ms).toBeLessThan(30_000);
    await expectNothingLeft(run);
    console.log(`npm run dev: ready after ${readyMs} ms, stopped ${stop.ms} ms after SIGINT`);
  }, 240_000);

  it('a second run on the same data converges to the same demo data and still knows the first run', async () => {
    expect(firstDemoId).not.toBe('');
    const run = startDev();
    await waitForDev(run, '/readyz', async () => (await fetch(`http://127.0.0.1:${ports.api}/readyz`)).status === 200, 120_000);

    // the same cluster, not a new one: the first run's data is there
    expect(run.output()).not.toContain('initialised a new Postgres cluster');
    // the first demo batch is done, so a new one runs; nothing else grows
    const second = await waitForDemoBatchDone(run, new Set([firstDemoId]));
    expect(second.id).not.toBe(firstDemoId);
    expect(second).toMatchObject({ total_profiles: DEMO_TOTAL, completed_profiles: DEMO_TOTAL, completion_rate: 1 });
    expect(await demoCounts()).toEqual({ niches: 4, profiles: DEMO_TOTAL, proxies: PROXIES, sessions: 2, demo_batches: 2 });
    // the demo watch is the first run's; the demo webhook is a new one (its secret is shown only when made), the old one gone
    const { webhooks, watches } = await demoWebhooksAndWatches();
    expect(watches.map((w) => w.id)).toEqual([firstWatchId]);
    expect(run.output()).toContain(`Demo watch ${firstWatchId} re-checks niche fashion every 60 s (kept from an earlier run)`);
    expect(webhooks).toHaveLength(1);
    expect(webhooks[0].id).not.toBe(firstWebhookId);
    const ping = await post(`/webhooks/${webhooks[0].id}/test`);
    expect((await waitForReceived(run, 'the ping at the new receiver', (r) => r.webhook_id === ping.message_id)).verified).toBe(true);

    // the Temporal state lives in the SQLite file: the first run's batch workflow is still there
    const connection = await Connection.connect({ address: `127.0.0.1:${ports.temporal}` });
    try {
      const client = new Client({ connection });
      const found = [];
      for await (const wf of client.workflow.list({ query: `BatchId = '${firstDemoId}'` })) found.push(wf);
      expect(found.map((wf) => wf.workflowId)).toEqual([`batch-${firstDemoId}`]);
    } finally {
      await connection.close();
    }

    const stop = await interrupt(run);
    expect(stop, run.output().slice(-3000)).toMatchObject({ code: 0, signal: null });
    await expectNothingLeft(run);
  }, 180_000);
});
