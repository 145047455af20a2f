/**
 * The queue runner and batches on a real Temporal dev server (signals, children and continue-as-new
 * interact here), with real Postgres, the simulator and forward proxies. One server, one stack and one
 * worker for the whole file (the queue workflow is a singleton per namespace); tests run in order and each
 * leaves the queue idle.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBatchControl, type BatchControl } from '../../src/queue/batch-control.js';
import { createLogger } from '../../src/logging/logger.js';
import { getBatch } from '../../src/repos/batches.js';
import { upsertProfiles } from '../../src/repos/profiles.js';
import { createWorker } from '../../src/worker/worker.js';
import { batchCounters, startStack, usernames, type Stack } from '../helpers/stack.js';
import { createLocalEnv, uniqueIds } from '../helpers/temporal.js';
import { watchQueueInvariants } from '../helpers/invariants.js';
import { waitFor } from '../helpers/wait.js';
import { sharedWorkflowBundle } from '../helpers/workflow-bundle.js';

let env: TestWorkflowEnvironment;
let stack: Stack;
let worker: Worker;
let running: Promise<void>;
let control: BatchControl;

beforeAll(async () => {
  env = await createLocalEnv();
  stack = await startStack({
    proxies: 2,
    sim: { latencyMs: 15 },
    env: {
      TEMPORAL_SEARCH_ATTRIBUTES: 'true',
      CHECK_CHUNK_SIZE: '25',
      BATCH_CONCURRENCY: '2',
      BATCH_PROFILES_PER_RUN: '100',
    },
  });
  const { taskQueue } = uniqueIds('queue');
  worker = await createWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    config: stack.config,
    deps: stack.deps,
    workflowBundle: sharedWorkflowBundle(),
  });
  running = worker.run();
  control = createBatchControl({ sql: stack.db.sql, temporal: env.client, taskQueue, logger: createLogger({ test: 'queue' }) });
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await stack?.close();
  await env?.teardown();
});

async function newBatch(n: number, options: { priority?: number; name?: string; hold?: boolean } = {}) {
  const { items } = await upsertProfiles(stack.db.sql, usernames(n, options.name ?? 'q'));
  return control.create({ ...options, profileIds: items.map((p) => p.id) });
}

const statusOf = async (id: string) => (await getBatch(stack.db.sql, id)).status;
const waitStatus = (id: string, status: string, timeoutMs?: number) =>
  waitFor(async () => (await statusOf(id)) === status, timeoutMs);

describe('batch queue (dev server)', () => {
  it('runs batches strictly one at a time, by priority then position, a started one first', async () => {
    await control.setQueuePaused(true);
    const a = await newBatch(60, { name: 'a' });
    const b = await newBatch(60, { name: 'b', priority: 5 });
    const c = await newBatch(60, { name: 'c' });
    const d = await newBatch(60, { name: 'd' });
    // positions follow run order: priority first, then order of entry
    expect((await Promise.all([b, a, c, d].map((x) => getBatch(stack.db.sql, x.id)))).map((x) => x.position)).toEqual([1, 2, 3, 4]);
    await control.start(d.id);
    expect((await getBatch(stack.db.sql, d.id)).position).toBe(1);
    await control.setQueuePaused(false);

    const all = Promise.all([a, b, c, d].map((x) => waitStatus(x.id, 'done', 90_000)));
    const watched = await watchQueueInvariants(stack.db.sql, all);
    expect(watched.violations).toEqual([]);
    expect(watched.maxRunning).toBe(1);

    const rows = await Promise.all([d, b, a, c].map((x) => getBatch(stack.db.sql, x.id)));
    for (let i = 1; i < rows.length; i++) {
      // each started only after the previous one completed
      expect(rows[i]!.started_at!.getTime()).toBeGreaterThanOrEqual(rows[i - 1]!.completed_at!.getTime());
    }
    for (const r of rows) expect(r.successful_checks + r.failed_checks).toBe(60);
  });

  it('pausing the running batch frees the runner; resuming re-queues it and checks only what is left', async () => {
    stack.sim.reset();
    stack.sim.setOptions({ latencyMs: 120 });
    try {
      const x = await newBatch(150, { name: 'x' });
      const y = await newBatch(30, { name: 'y' });
      await waitFor(async () => (await getBatch(stack.db.sql, x.id)).successful_checks >= 50);
      await control.pause(x.id);
      expect(await statusOf(x.id)).toBe('paused');
      // the next batch gets the runner while x stays paused
      await waitStatus(y.id, 'done');
      const paused = await getBatch(stack.db.sql, x.id);
      expect(paused.status).toBe('paused');
      expect(paused.position).toBeNull();
      expect(paused.successful_checks).toBeLessThan(150);

      await control.resume(x.id);
      await waitStatus(x.id, 'done', 90_000);
      expect(await batchCounters(stack, x.id)).toMatchObject({ successful_checks: 150, failed_checks: 0 });
      // no profile of x was asked upstream twice: the resumed run asked only for the unfinished ones
      const asked = Object.values(stack.sim.stats.userIdsAsked);
      expect(asked.length).toBe(180);
      expect(Math.max(...asked)).toBe(1);
      const counts = await stack.db.sql<{ n: number }[]>`
        select p.total_checks as n from profiles p join batch_profiles bp on bp.profile_id = p.id where bp.batch_id = ${x.id}`;
      expect(counts.every((c) => c.n === 1)).toBe(true);
    } finally {
      stack.sim.setOptions({ latencyMs: 15 });
    }
  });

  it('a queue-wide pause sends nothing upstream until resume, and the batch goes on where it stopped', async () => {
    stack.sim.setOptions({ latencyMs: 60 });
    try {
      const z = await newBatch(150, { name: 'z' });
      await waitFor(async () => (await getBatch(stack.db.sql, z.id)).successful_checks >= 50);
      await control.setQueuePaused(true);
      // requests already on the wire finish; after that nothing more may leave
      await new Promise((r) => setTimeout(r, 500));
      const before = stack.sim.stats.requests;
      const progress = (await getBatch(stack.db.sql, z.id)).successful_checks;
      await new Promise((r) => setTimeout(r, 2_500));
      expect(stack.sim.stats.requests).toBe(before);
      const held = await getBatch(stack.db.sql, z.id);
      expect(held).toMatchObject({ status: 'running', position: 0, successful_checks: progress });
      expect(progress).toBeLessThan(150);

      await control.setQueuePaused(false);
      await waitStatus(z.id, 'done', 90_000);
      expect(await batchCounters(stack, z.id)).toMatchObject({ successful_checks: 150, failed_checks: 0 });
    } finally {
      await control.setQueuePaused(false);
      stack.sim.setOptions({ latencyMs: 15 });
    }
  });

  it('cancels queued and running batches, and the runner moves on', async () => {
    stack.sim.setOptions({ latencyMs: 100 });
    try {
      const r = await newBatch(400, { name: 'r' });
      const q = await newBatch(30, { name: 'q' });
      await waitStatus(r.id, 'running');
      await control.cancel(q.id);
      expect(await getBatch(stack.db.sql, q.id)).toMatchObject({ status: 'cancelled', position: null });
      await waitFor(async () => (await getBatch(stack.db.sql, r.id)).successful_checks >= 25);
      await control.cancel(r.id);
      expect(await getBatch(stack.db.sql, r.id)).toMatchObject({ status: 'cancelled', position: null });
      // the cancelled run stops taking chunks; its workflow ends
      const handle = env.client.workflow.getHandle(`batch-${r.id}`);
      const result = (await handle.result()) as { outcome: string };
      expect(result.outcome).toBe('cancelled');
      const settled = await getBatch(stack.db.sql, r.id);
      expect(settled.successful_checks + settled.failed_checks).toBeLessThan(400);
      stack.sim.setOptions({ latencyMs: 15 });
      const next = await newBatch(20, { name: 'n' });
      await waitStatus(next.id, 'done');
      // nothing of the cancelled queued batch was ever checked
      expect((await getBatch(stack.db.sql, q.id)).successful_checks).toBe(0);
    } finally {
      stack.sim.setOptions({ latencyMs: 15 });
    }
  });

  it('a batch whose workflow fails unexpectedly ends as error with BATCH_ERROR, and the runner moves on', async () => {
    stack.sim.setOptions({ latencyMs: 100 });
    try {
      const doomed = await newBatch(150, { name: 'e' });
      const after = await newBatch(20, { name: 'f' });
      await waitStatus(doomed.id, 'running');
      await waitFor(async () => (await getBatch(stack.db.sql, doomed.id)).successful_checks >= 25);
      // an operator terminates the batch's workflow from the Web UI or CLI
      await env.client.workflow.getHandle(`batch-${doomed.id}`).terminate('operator stopped it');
      await waitStatus(doomed.id, 'error');
      const failed = await getBatch(stack.db.sql, doomed.id);
      expect(failed.position).toBeNull();
      expect(failed.error).toMatch(/terminated|operator/i);
      const [log] = await stack.db.sql<{ level: string }[]>`
        select level from batch_logs where batch_id = ${doomed.id} and event_type = 'BATCH_ERROR'`;
      expect(log?.level).toBe('ERROR');
      stack.sim.setOptions({ latencyMs: 15 });
      await waitStatus(after.id, 'done');
      // resuming an errored batch finishes what is left
      await control.resume(doomed.id);
      await waitStatus(doomed.id, 'done', 90_000);
      expect(await batchCounters(stack, doomed.id)).toMatchObject({ successful_checks: 150, failed_checks: 0 });
    } finally {
      stack.sim.setOptions({ latencyMs: 15 });
    }
  });

  it('a batch spanning many continue-as-new runs completes with exact counters and short histories', async () => {
    const big = await newBatch(400, { name: 'big' });
    await waitStatus(big.id, 'done', 120_000);
    expect(await batchCounters(stack, big.id)).toMatchObject({ total_profiles: 400, successful_checks: 400, failed_checks: 0 });
    const runs: number[] = [];
    for await (const wf of env.client.workflow.list({ query: `WorkflowId = 'batch-${big.id}'` })) {
      const history = await env.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      runs.push(history.events?.length ?? 0);
    }
    // 100 profiles per run → at least 4 runs, each with a short history
    expect(runs.length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...runs)).toBeLessThan(200);
    // the batch is findable by its search attributes
    const found = [];
    for await (const wf of env.client.workflow.list({ query: `BatchId = '${big.id}' AND BatchStatus = 'done'` })) found.push(wf);
    expect(found.length).toBeGreaterThanOrEqual(1);
  });
});
