/**
 * A worker process killed mid-batch (SIGKILL: no graceful shutdown) and started again: the batch finishes
 * with exact counters and no profile counted twice. Real worker processes (`src/worker.ts`), a Temporal dev
 * server, Postgres, the simulator and forward proxies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBatchControl } from '../../src/batch-control.js';
import { createLogger } from '../../src/logger.js';
import { getBatch } from '../../src/repos/batches.js';
import { upsertProfiles } from '../../src/repos/profiles.js';
import { startStack, usernames, type Stack } from '../helpers/stack.js';
import { createLocalEnv, uniqueIds } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

let env: TestWorkflowEnvironment;
let stack: Stack;
const children = new Set<ChildProcess>();
const { taskQueue } = uniqueIds('crash');

beforeAll(async () => {
  env = await createLocalEnv();
  stack = await startStack({ proxies: 2, sim: { latencyMs: 40 } });
});

afterAll(async () => {
  for (const child of children) killGroup(child, 'SIGKILL');
  await stack?.close();
  await env?.teardown();
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

/** Starts `npm run worker` as its own process group; resolves once it polls. */
async function startWorkerProcess(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      DATABASE_URL: stack.db.url,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      STORY_API_BASE_URL: stack.sim.url,
      TEMPORAL_SEARCH_ATTRIBUTES: 'true',
      CHECK_CHUNK_SIZE: '25',
      BATCH_CONCURRENCY: '2',
      BATCH_PROFILES_PER_RUN: '200',
      // a dead worker's chunk is retried after this; its proxy leases are reclaimed after PROXY_LEASE_MS
      CHECK_HEARTBEAT_TIMEOUT_MS: '3000',
      CHECK_TIMEOUT_MS: '2000',
      PROXY_LEASE_MS: '5000',
      LOG_LEVEL: 'info',
    },
  });
  children.add(child);
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start: ${output}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('worker started')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${output}`)));
  });
  return child;
}

it('a worker killed mid-batch and started again finishes the batch without counting anything twice', async () => {
  const first = await startWorkerProcess();
  const control = createBatchControl({ sql: stack.db.sql, temporal: env.client, taskQueue, logger: createLogger({ test: 'crash' }) });
  const { items } = await upsertProfiles(stack.db.sql, usernames(400, 'crash'));
  const batch = await control.create({ profileIds: items.map((p) => p.id) });

  await waitFor(async () => (await getBatch(stack.db.sql, batch.id)).successful_checks >= 60, 60_000);
  killGroup(first, 'SIGKILL');
  await new Promise<void>((resolve) => (first.exitCode !== null || first.signalCode !== null ? resolve() : first.once('exit', () => resolve())));
  const atCrash = await getBatch(stack.db.sql, batch.id);
  expect(atCrash.status).toBe('running');
  expect(atCrash.successful_checks).toBeLessThan(400);

  const second = await startWorkerProcess();
  await waitFor(async () => (await getBatch(stack.db.sql, batch.id)).status === 'done', 120_000);

  const done = await getBatch(stack.db.sql, batch.id);
  expect(done).toMatchObject({ successful_checks: 400, failed_checks: 0, total_profiles: 400 });
  const perProfile = await stack.db.sql<{ total_checks: number }[]>`select total_checks from profiles`;
  expect(perProfile).toHaveLength(400);
  expect(perProfile.every((p) => p.total_checks === 1)).toBe(true);
  const [logs] = await stack.db.sql<{ n: number }[]>`
    select count(*)::int as n from batch_logs where batch_id = ${batch.id} and event_type = 'STORY_CHECK_SUCCESS'`;
  expect(logs!.n).toBe(400);

  // SIGTERM: a graceful stop with exit code 0
  const exited = new Promise<number | null>((resolve) => second.once('exit', (code) => resolve(code)));
  second.kill('SIGTERM');
  expect(await exited).toBe(0);
});
