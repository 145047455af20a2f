/**
 * Scale-out: three worker processes on one task queue, one Temporal dev server and one Postgres.
 *
 * 1. No fault: a batch of 360 profiles ends `done` with exact counts, and the three workers shared it: each
 *    one's `storycheck_checks_total` (its own metrics port, WORKER_METRICS_PORT) is above 0, and the three sum
 *    to exactly 360: the batch was split between them, not repeated.
 * 2. Two of the three killed with SIGKILL at once, at about 30% of 600 profiles checked, both while running an
 *    activity (their chunks are retried after the heartbeat timeout, FAST_RECOVERY_WORKER_ENV); a new worker
 *    started then joins mid-batch. The batch ends `done` with exact counts, and the last of the first three
 *    and the new one each recorded checks after the kills (their own metrics), together at least all that
 *    was left at the kills.
 *
 * Invariant (tests/helpers/invariants.ts), with exact counts for batches whose profiles all exist upstream:
 * the batch ends `done`, successful_checks = completed_profiles = total, failed_checks = 0, one
 * STORY_CHECK_SUCCESS log per profile, and total_checks = 1 on every profile.
 *
 * Real worker processes (`src/worker/main.ts`), a Temporal dev server, Postgres, the upstream simulator and
 * forward proxies.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBatchControl } from '../../src/queue/batch-control.js';
import { freePort } from '../../src/local/ports.js';
import { createLogger } from '../../src/logging/logger.js';
import { getBatch } from '../../src/repos/batches.js';
import { upsertProfiles } from '../../src/repos/profiles.js';
import { expectExactlyOnce } from '../helpers/invariants.js';
import { figure, scrape } from '../helpers/metrics.js';
import { killAllChildren, killHard, startWorkerProcess, type WorkerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startStack, usernames, type Stack } from '../helpers/stack.js';
import { createLocalEnv, uniqueIds } from '../helpers/temporal.js';

const WORKERS = 3;
const PROXIES = 3;

let env: TestWorkflowEnvironment;
let stack: Stack;
const { taskQueue } = uniqueIds('scale-out');

beforeAll(async () => {
  env = await createLocalEnv();
  stack = await startStack({ proxies: PROXIES, sim: { latencyMs: 40 } });
});

afterAll(async () => {
  await killAllChildren();
  await stack?.close();
  await env?.teardown();
});

interface MeteredWorker extends WorkerProcess {
  /** Profile checks this process recorded as final since it started, by its own metrics. */
  checks(): Promise<number>;
  /** Activities this process is running right now (the Temporal SDK's slots in use). */
  activitiesInFlight(): Promise<number>;
}

/** A worker process with a metrics port of its own, resolved once both poll and serve. */
async function startMeteredWorker(): Promise<MeteredWorker> {
  const port = await freePort();
  const worker = await startWorkerProcess({
    DATABASE_URL: stack.db.url,
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    STORY_API_BASE_URL: stack.sim.url,
    // a chunk per proxy per worker at most: room for all three to work at once
    BATCH_CONCURRENCY: String(PROXIES),
    WORKER_METRICS_PORT: String(port),
  });
  const url = `http://127.0.0.1:${port}/metrics`;
  const checks = async () => figure(await scrape(url), 'storycheck_checks_total');
  // the metrics server starts just after the worker polls
  await waitFor(() => checks().then(() => true, () => false), { what: `metrics at ${url}`, timeoutMs: 10_000 });
  const activitiesInFlight = async () => figure(await scrape(url), 'temporal_worker_task_slots_used', { worker_type: 'ActivityWorker' });
  return { ...worker, checks, activitiesInFlight };
}

const startWorkers = (n: number) => Promise.all(Array.from({ length: n }, () => startMeteredWorker()));

async function queueBatch(test: string, profiles: number) {
  const control = createBatchControl({ sql: stack.db.sql, temporal: env.client, taskQueue, logger: createLogger({ test }) });
  const { items } = await upsertProfiles(stack.db.sql, usernames(profiles, test));
  return control.create({ profileIds: items.map((p) => p.id) });
}

const waitDone = (batchId: string) =>
  waitFor(async () => (await getBatch(stack.db.sql, batchId)).status === 'done', { what: 'batch done', timeoutMs: 90_000 });

it('three workers share one batch: each records checks, and together exactly one per profile', async () => {
  const PROFILES = 360;
  const workers = await startWorkers(WORKERS);
  const batch = await queueBatch('shared', PROFILES);

  await waitDone(batch.id);
  await expectExactlyOnce(stack.db.sql, batch.id, PROFILES);
  const perWorker = await Promise.all(workers.map((w) => w.checks()));
  console.info(`checks per worker: ${perWorker.join(', ')}`);
  for (const checks of perWorker) expect(checks).toBeGreaterThan(0);
  expect(perWorker.reduce((a, b) => a + b, 0)).toBe(PROFILES);

  // the next case starts three of its own
  await Promise.all(workers.map((w) => killHard(w.child)));
}, 120_000);

it('two of three workers killed with SIGKILL at 30%: the last one and a new one finish the batch, every profile counted once', async () => {
  const PROFILES = 600;
  const workers = await startWorkers(WORKERS);
  const batch = await queueBatch('two_killed', PROFILES);
  const target = Math.round(PROFILES * 0.3);
  await waitFor(async () => (await getBatch(stack.db.sql, batch.id)).successful_checks >= target, { what: `${target} profiles checked`, timeoutMs: 60_000 });
  // two workers with an activity in flight, so the kills abandon chunks mid-way
  const killed = await waitFor(
    async () => {
      const inFlight = await Promise.all(workers.map((w) => w.activitiesInFlight()));
      const busy = workers.filter((_, i) => inFlight[i]! > 0);
      return busy.length >= 2 && busy.slice(0, 2);
    },
    { what: 'two workers with an activity in flight', timeoutMs: 30_000, stepMs: 10 },
  );
  await Promise.all(killed.map((w) => killHard(w.child)));
  const survivor = workers.find((w) => !killed.includes(w))!;
  const atKill = await getBatch(stack.db.sql, batch.id);
  const bySurvivorAtKill = await survivor.checks();
  expect(atKill.status).toBe('running');
  expect(atKill.successful_checks).toBeLessThan(PROFILES);

  // a new worker joins mid-batch (started at once, it polls seconds later, once it has bundled the workflows)
  const joining = await startMeteredWorker();
  expect((await getBatch(stack.db.sql, batch.id)).status).toBe('running');

  await waitDone(batch.id);
  await expectExactlyOnce(stack.db.sql, batch.id, PROFILES);
  const [bySurvivor, byJoining] = await Promise.all([survivor.checks(), joining.checks()]);
  console.info(
    `${atKill.successful_checks} checked at the kills; checks by the survivor: ${bySurvivorAtKill} before, ${bySurvivor} in all; by the new worker: ${byJoining}`,
  );
  // both workers alive after the kills did part of the rest, and between them all of it
  expect(bySurvivor).toBeGreaterThan(bySurvivorAtKill);
  expect(byJoining).toBeGreaterThan(0);
  expect(bySurvivor + byJoining).toBeGreaterThanOrEqual(PROFILES - atKill.successful_checks);
  expect(bySurvivor + byJoining).toBeLessThanOrEqual(PROFILES);
}, 120_000);
