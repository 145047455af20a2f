/**
 * A worker process killed mid-batch (SIGKILL: no graceful shutdown) and started again: the batch finishes
 * with exact counters and no profile counted twice. Real worker processes (`src/worker/main.ts`), a Temporal dev
 * server, Postgres, the simulator and forward proxies.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBatchControl } from '../../src/batch-control.js';
import { createLogger } from '../../src/logger.js';
import { getBatch } from '../../src/repos/batches.js';
import { upsertProfiles } from '../../src/repos/profiles.js';
import { killAllChildren, killHard, startWorkerProcess } from '../helpers/processes.js';
import { startStack, usernames, type Stack } from '../helpers/stack.js';
import { createLocalEnv, uniqueIds } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

let env: TestWorkflowEnvironment;
let stack: Stack;
const { taskQueue } = uniqueIds('crash');

beforeAll(async () => {
  env = await createLocalEnv();
  stack = await startStack({ proxies: 2, sim: { latencyMs: 40 } });
});

afterAll(async () => {
  await killAllChildren();
  await stack?.close();
  await env?.teardown();
});

/** Starts `npm run worker` as its own process group, with quick recovery settings; resolves once it polls. */
const startWorker = async () =>
  (
    await startWorkerProcess({
      DATABASE_URL: stack.db.url,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      STORY_API_BASE_URL: stack.sim.url,
    })
  ).child;

it('a worker killed mid-batch and started again finishes the batch without counting anything twice', async () => {
  const first = await startWorker();
  const control = createBatchControl({ sql: stack.db.sql, temporal: env.client, taskQueue, logger: createLogger({ test: 'crash' }) });
  const { items } = await upsertProfiles(stack.db.sql, usernames(400, 'crash'));
  const batch = await control.create({ profileIds: items.map((p) => p.id) });

  await waitFor(async () => (await getBatch(stack.db.sql, batch.id)).successful_checks >= 60, 60_000);
  await killHard(first);
  const atCrash = await getBatch(stack.db.sql, batch.id);
  expect(atCrash.status).toBe('running');
  expect(atCrash.successful_checks).toBeLessThan(400);

  const second = await startWorker();
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
