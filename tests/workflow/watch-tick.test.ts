/**
 * `watchTickWorkflow` with its real activity and a real Postgres, on Temporal's time-skipping server. That
 * server has no Schedules, so each tick is started here as a Schedule starts it (workflow id `watch-<id>-<time>`,
 * one interval of server time apart). The queue runner the activity wakes runs on a queue of its own, whose
 * worker claims nothing: the batches stay as the tick left them, and the test finishes them between ticks.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, type RetryPolicy } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createWatchTickActivities, type WatchTickInput, type WatchTickReport } from '../../activities/watch-tick.js';
import { createLogger } from '../../src/logging/logger.js';
import { workerRegistry } from '../../src/metrics/worker.js';
import { cancelBatch, claimNextBatch } from '../../src/repos/queue.js';
import { watchTickWorkflow } from '../../workflows/watch-tick.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { timeSkippingServer, withWorker } from '../helpers/workflow.js';

const server = timeSkippingServer();
const INTERVAL_MS = 10 * 60_000;
let db: TestDatabase;
let watchId: string;

/** The queue runner's worker, for the whole file: its claim claims nothing, and counts the wakes. */
const runner = { claims: 0, queue: `watch-runner-${randomUUID().slice(0, 8)}`, worker: null as Worker | null, running: null as Promise<void> | null };

beforeAll(async () => {
  db = await createTestDatabase();
  const claimNothing = {
    async claimNextBatch() {
      runner.claims += 1;
      return null;
    },
  };
  runner.worker = await Worker.create({
    connection: server.env.nativeConnection,
    namespace: 'default',
    taskQueue: runner.queue,
    workflowBundle: server.bundle,
    activities: claimNothing,
  });
  runner.running = runner.worker.run();
});
afterAll(async () => {
  runner.worker?.shutdown();
  await runner.running;
  await db?.drop();
});
beforeEach(async () => {
  await db.sql`truncate batches, watches, profiles cascade`;
  await db.sql`insert into profiles (username) values ('w.one'), ('w.two')`;
  const [watch] = await db.sql<{ id: string }[]>`
    insert into watches (name, every_s, priority, max_age_s) values ('every ten minutes', 600, 3, 120) returning id`;
  watchId = watch!.id;
  await db.sql`
    insert into watch_profiles (watch_id, profile_id, ordinal)
    select ${watchId}, id, row_number() over (order by username) from profiles`;
});

/** Runs `fn` while a worker of the ticks polls: the real tick activity, or `wrap` of it. */
async function withTickWorker(fn: (taskQueue: string) => Promise<void>, wrap: (real: Activities) => Activities = (real) => real): Promise<void> {
  const real = createWatchTickActivities({ sql: db.sql, config: { TEMPORAL_TASK_QUEUE: runner.queue }, logger: createLogger({ test: true }), temporal: () => server.env.client });
  await withWorker(server.env, { activities: wrap(real), bundle: server.bundle, prefix: 'watch' }, fn);
}

type Activities = ReturnType<typeof createWatchTickActivities>;

/** A tick's workflow id as a Schedule makes it: the Schedule's id and the scheduled time, to the second. */
const tickWorkflowId = (time: Date) => `watch-${watchId}-${time.toISOString().replace(/\.\d{3}Z$/, 'Z')}`;

/** One tick as a Schedule starts it, at the server's time now (or at `time`: the same tick again). */
async function tick(taskQueue: string, options: { time?: Date; retry?: RetryPolicy } = {}): Promise<WatchTickReport> {
  const time = options.time ?? new Date(await server.env.currentTimeMs());
  return server.env.client.workflow.execute(watchTickWorkflow, {
    taskQueue,
    workflowId: tickWorkflowId(time),
    args: [{ watchId }],
    ...(options.retry ? { retry: options.retry } : {}),
  });
}

const batchesOfWatch = () =>
  db.sql<{ id: string; status: string; scheduled_at: Date; name: string; priority: number; max_age_s: number }[]>`
    select id, status, scheduled_at, name, priority, max_age_s from batches where watch_id = ${watchId} order by scheduled_at`;

const watchRow = async () => (await db.sql<{ last_tick_result: string; last_skip_reason: string | null; ticks_skipped: number }[]>`
  select last_tick_result, last_skip_reason, ticks_skipped from watches where id = ${watchId}`)[0]!;

async function ticksCounted(result: 'created' | 'skipped'): Promise<number> {
  const metric = await workerRegistry.getSingleMetric('storycheck_watch_ticks_total')!.get();
  return metric.values.find((v) => v.labels.result === result)?.value ?? 0;
}

describe('watchTickWorkflow (time-skipping, real activity and Postgres)', () => {
  it('three ticks an interval apart give three batches, each waking the queue runner', async () => {
    await withTickWorker(async (taskQueue) => {
      for (let i = 0; i < 3; i += 1) {
        const claimsBefore = runner.claims;
        const report = await tick(taskQueue);
        expect(report).toMatchObject({ result: 'created', existing: false, skipReason: null });
        // the runner was woken to take the batch (its stand-in claims nothing)
        await waitFor(async () => runner.claims > claimsBefore);
        // the batch ran its course before the next tick
        await cancelBatch(db.sql, report.batchId!);
        await server.env.sleep(INTERVAL_MS);
      }
    });
    const batches = await batchesOfWatch();
    expect(batches).toHaveLength(3);
    const gaps = batches.slice(1).map((b, i) => b.scheduled_at.getTime() - batches[i]!.scheduled_at.getTime());
    for (const gap of gaps) expect(Math.abs(gap - INTERVAL_MS)).toBeLessThan(5_000);
    expect(batches[0]).toMatchObject({ priority: 3, max_age_s: 120, name: `every ten minutes ${batches[0]!.scheduled_at.toISOString()}` });
    expect(await watchRow()).toMatchObject({ last_tick_result: 'created', ticks_skipped: 0 });
  });

  it('skips a tick while the previous batch is queued or running, and creates one once it has finished', async () => {
    await withTickWorker(async (taskQueue) => {
      const first = await tick(taskQueue);
      expect(first.result).toBe('created');
      await server.env.sleep(INTERVAL_MS);
      expect(await tick(taskQueue)).toMatchObject({ result: 'skipped', skipReason: 'previous_batch_unfinished', batchId: null });
      expect((await claimNextBatch(db.sql))?.id).toBe(first.batchId);
      await server.env.sleep(INTERVAL_MS);
      expect(await tick(taskQueue)).toMatchObject({ result: 'skipped', skipReason: 'previous_batch_unfinished' });
      expect(await watchRow()).toMatchObject({ last_tick_result: 'skipped', last_skip_reason: 'previous_batch_unfinished', ticks_skipped: 2 });
      expect(await batchesOfWatch()).toHaveLength(1);

      await cancelBatch(db.sql, first.batchId!);
      await server.env.sleep(INTERVAL_MS);
      const next = await tick(taskQueue);
      expect(next.result).toBe('created');
      expect(next.batchId).not.toBe(first.batchId);
    });
    expect(await batchesOfWatch()).toHaveLength(2);
  });

  it('a retried tick gives one batch: its run retried (the same scheduled time twice), its activity failing after the commit', async () => {
    /** How the next call fails after the tick committed: its run, or its activity attempt. */
    let failAfterCommit: 'run' | 'attempt' | null = 'run';
    const flaky = (real: Activities): Activities => ({
      async createWatchBatch(input: WatchTickInput): Promise<WatchTickReport> {
        const report = await real.createWatchBatch(input);
        // the tick committed, then its result was lost: Temporal runs it again
        if (failAfterCommit === 'run') {
          failAfterCommit = null;
          throw ApplicationFailure.nonRetryable('run lost after the commit');
        }
        if (failAfterCommit === 'attempt' && Context.current().info.attempt <= 2) throw ApplicationFailure.retryable('attempt lost after the commit');
        return report;
      },
    });
    const createdBefore = await ticksCounted('created');
    await withTickWorker(async (taskQueue) => {
      // the run fails and is retried: a new run of the same tick, the same scheduled time
      const time = new Date(await server.env.currentTimeMs());
      const rerun = await tick(taskQueue, { time, retry: { maximumAttempts: 2, initialInterval: '1 second' } });
      expect(rerun).toMatchObject({ result: 'created', existing: true });
      // and the same tick started again once it closed
      expect(await tick(taskQueue, { time })).toMatchObject({ result: 'created', existing: true, batchId: rerun.batchId });
      expect((await batchesOfWatch()).map((b) => b.id)).toEqual([rerun.batchId]);

      await cancelBatch(db.sql, rerun.batchId!);
      await server.env.sleep(INTERVAL_MS);
      failAfterCommit = 'attempt';
      const retried = await tick(taskQueue);
      expect(retried).toMatchObject({ result: 'created', existing: true });
    }, flaky);
    expect(await batchesOfWatch()).toHaveLength(2);
    // each scheduled time counted once, however many times it ran
    expect((await ticksCounted('created')) - createdBefore).toBe(2);
  });
});
