/**
 * Fault: the worker process killed with SIGKILL three times mid-batch (at about 25%, 50% and 75% of the
 * profiles checked), a new worker started after each kill.
 *
 * Invariant (tests/helpers/invariants.ts), with exact counts for a batch of 300 profiles that all exist
 * upstream: the batch ends `done` with 300 completed rows, successful_checks = completed_profiles = 300,
 * failed_checks = 0, 300 STORY_CHECK_SUCCESS logs (one per profile), total_checks = 1 on every profile, and one
 * story.posted event per story item remembered.
 *
 * Also: one kill, then a graceful stop (SIGTERM) of the worker that finished the batch, which exits 0.
 *
 * Real worker processes (`src/worker/main.ts`), a Temporal dev server, Postgres, the upstream simulator and
 * forward proxies.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBatchControl } from '../../src/queue/batch-control.js';
import { createLogger } from '../../src/logging/logger.js';
import { getBatch } from '../../src/repos/batches.js';
import { upsertProfiles } from '../../src/repos/profiles.js';
import { expectExactlyOnce } from '../helpers/invariants.js';
import { killAllChildren, killHard, startWorkerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startStack, usernames, type Stack } from '../helpers/stack.js';
import { createLocalEnv, uniqueIds } from '../helpers/temporal.js';

const PROFILES = 300;
const KILL_AT = [0.25, 0.5, 0.75];

let env: TestWorkflowEnvironment;
let stack: Stack;
const { taskQueue } = uniqueIds('sigkill');

beforeAll(async () => {
  env = await createLocalEnv();
  stack = await startStack({ proxies: 2, sim: { latencyMs: 40 } });
});

/** What every worker process of this file runs against. */
const workerEnv = () => ({
  DATABASE_URL: stack.db.url,
  TEMPORAL_ADDRESS: env.address,
  TEMPORAL_TASK_QUEUE: taskQueue,
  STORY_API_BASE_URL: stack.sim.url,
});

afterAll(async () => {
  await killAllChildren();
  await stack?.close();
  await env?.teardown();
});

it('a batch survives its worker being killed with SIGKILL three times and counts every profile exactly once', async () => {
  const control = createBatchControl({ sql: stack.db.sql, temporal: env.client, taskQueue, logger: createLogger({ test: 'sigkill' }) });
  const { items } = await upsertProfiles(stack.db.sql, usernames(PROFILES, 'sigkill'));
  let worker = await startWorkerProcess(workerEnv());
  const batch = await control.create({ profileIds: items.map((p) => p.id) });

  for (const fraction of KILL_AT) {
    const target = Math.round(PROFILES * fraction);
    await waitFor(async () => (await getBatch(stack.db.sql, batch.id)).successful_checks >= target, { what: `${target} profiles checked`, timeoutMs: 90_000 });
    await killHard(worker.child);
    const atKill = await getBatch(stack.db.sql, batch.id);
    // the kill really lands mid-batch
    expect(atKill.status).toBe('running');
    expect(atKill.successful_checks).toBeLessThan(PROFILES);
    worker = await startWorkerProcess(workerEnv());
  }

  await waitFor(async () => (await getBatch(stack.db.sql, batch.id)).status === 'done', { what: 'batch done', timeoutMs: 120_000 });
  const outcome = await expectExactlyOnce(stack.db.sql, batch.id, PROFILES);
  // the invariant covered stories too: one story.posted per item, whichever worker recorded it
  expect(outcome.stories_found).toBeGreaterThan(0);
  expect(outcome.remembered_items).toBeGreaterThanOrEqual(outcome.stories_found);
}, 240_000);

it('a worker killed mid-batch and started again finishes the batch exactly once, and stops gracefully on SIGTERM', async () => {
  const control = createBatchControl({ sql: stack.db.sql, temporal: env.client, taskQueue, logger: createLogger({ test: 'crash' }) });
  const { items } = await upsertProfiles(stack.db.sql, usernames(400, 'crash'));
  const first = await startWorkerProcess(workerEnv());
  const batch = await control.create({ profileIds: items.map((p) => p.id) });

  await waitFor(async () => (await getBatch(stack.db.sql, batch.id)).successful_checks >= 60, { what: '60 profiles checked', timeoutMs: 60_000 });
  await killHard(first.child);
  const atCrash = await getBatch(stack.db.sql, batch.id);
  expect(atCrash.status).toBe('running');
  expect(atCrash.successful_checks).toBeLessThan(400);

  const second = await startWorkerProcess(workerEnv());
  await waitFor(async () => (await getBatch(stack.db.sql, batch.id)).status === 'done', { what: 'batch done', timeoutMs: 120_000 });
  await expectExactlyOnce(stack.db.sql, batch.id, 400);

  const exited = new Promise<number | null>((resolve) => second.child.once('exit', (code) => resolve(code)));
  second.child.kill('SIGTERM');
  expect(await exited).toBe(0);
}, 240_000);
