/**
 * BatchWorkflow on Temporal's time-skipping server, against real Postgres, the simulator and real forward
 * proxies. Timers (retry backoff, hour-long proxy rests) are skipped, so these run in seconds; the pool and
 * checker share the server's clock so a proxy's rest ends exactly when Temporal has skipped past it.
 */
import { Worker } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { batchSettings } from '../../activities/index.js';
import { pauseBatch, resumeBatch, claimNextBatch, setQueuePaused } from '../../src/repos/queue.js';
import { pauseSignal, progressQuery, queuePausedSignal } from '../../workflows/signals.js';
import { batchCounters, eventCounts, makeRunningBatch, usernames, type Stack, type StackOptions } from '../helpers/stack.js';
import { withTimeSkippingStackWorker } from '../helpers/stack-worker.js';
import { waitFor } from '../helpers/wait.js';
import { executeBatch, startBatch, timeSkippingServer } from '../helpers/workflow.js';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const server = timeSkippingServer();

const withWorker = <T>(options: StackOptions, fn: (stack: Stack, taskQueue: string) => Promise<T>) =>
  withTimeSkippingStackWorker(server, options, fn);

describe('BatchWorkflow (time-skipping)', () => {
  it('checks every profile in chunks of up to 50 and completes with exact counters', async () => {
    await withWorker({ proxies: 2 }, async (stack, taskQueue) => {
      const batch = await makeRunningBatch(stack, usernames(120));
      const result = await executeBatch(server.env, taskQueue, { batchId: batch.id, settings: batchSettings(stack.config) });
      expect(result.outcome).toBe('done');
      const counters = await batchCounters(stack, batch.id);
      expect(counters).toMatchObject({ status: 'done', total_profiles: 120, successful_checks: 120, failed_checks: 0 });
      expect(counters.stories_found).toBe(result.totals.storiesFound);
      // 120 lookups (ids not cached yet), then stories in requests of at most 50 ids: 50 + 50 + 20
      expect(stack.sim.stats.maxReelIdsPerRequest).toBe(50);
      expect(stack.sim.stats.reelIdsPerRequest).toEqual({ '50': 2, '20': 1 });
      const events = await eventCounts(stack, batch.id);
      expect(events.STORY_CHECK_SUCCESS).toBe(120);
      expect(events.BATCH_COMPLETED).toBe(1);
      const [stats] = await stack.db.sql<{ checks: number; detections: number }[]>`
        select sum(total_checks)::int as checks, sum(total_detections)::int as detections from profiles`;
      expect(stats).toEqual({ checks: 120, detections: counters.stories_found });
    });
  });

  it('rests a rate-limited proxy for its hour-long Retry-After and then finishes (the hour is skipped)', async () => {
    await withWorker(
      { proxies: 1, sim: { ratePerSecond: 5, burst: 2, retryAfter: 3600 } },
      async (stack, taskQueue) => {
        const batch = await makeRunningBatch(stack, usernames(12));
        const startedAt = await server.env.currentTimeMs();
        const realStart = Date.now();
        const result = await executeBatch(server.env, taskQueue, { batchId: batch.id, settings: batchSettings(stack.config) });
        expect(result.outcome).toBe('done');
        expect(await batchCounters(stack, batch.id)).toMatchObject({ successful_checks: 12, failed_checks: 0 });
        const events = await eventCounts(stack, batch.id);
        expect(events.RATE_LIMITED).toBeGreaterThanOrEqual(1);
        expect(events.PROXY_COOLDOWN).toBe(events.RATE_LIMITED);
        const [cooldown] = await stack.db.sql<{ details: { retry_after_ms: number } }[]>`
          select details from batch_logs where batch_id = ${batch.id} and event_type = 'PROXY_COOLDOWN' limit 1`;
        expect(cooldown!.details.retry_after_ms).toBe(3_600_000);
        // nothing could be sent for longer than BATCH_STALL_AFTER_MS: a stall was shown, then cleared by itself
        expect(events.BATCH_STALLED).toBeGreaterThanOrEqual(1);
        expect(events.BATCH_STALL_CLEARED).toBe(events.BATCH_STALLED);
        const [stall] = await stack.db.sql<{ details: { reason: string; what_to_do: string } }[]>`
          select details from batch_logs where batch_id = ${batch.id} and event_type = 'BATCH_STALLED' limit 1`;
        expect(stall!.details.reason).toBe('no_usable_proxy');
        expect(stall!.details.what_to_do).toMatch(/proxies/);
        const [after] = await stack.db.sql<{ stalled_reason: string | null }[]>`select stalled_reason from batches where id = ${batch.id}`;
        expect(after!.stalled_reason).toBeNull();
        // at least one full hour of rest passed on the workflow clock, in a few real seconds
        expect((await server.env.currentTimeMs()) - startedAt).toBeGreaterThanOrEqual(3_600_000);
        expect(Date.now() - realStart).toBeLessThan(60_000);
      },
    );
  });

  it('retries failing checks with the configured backoff, then records CHECK_FAILED', async () => {
    await withWorker(
      {
        proxies: 1,
        sim: { errorRate: 1 },
        env: { CHECK_MAX_ATTEMPTS: '3', CHECK_INITIAL_INTERVAL_MS: String(10 * 60_000), CHECK_MAX_INTERVAL_MS: String(60 * 60_000) },
      },
      async (stack, taskQueue) => {
        const batch = await makeRunningBatch(stack, usernames(4));
        const startedAt = await server.env.currentTimeMs();
        const result = await executeBatch(server.env, taskQueue, { batchId: batch.id, settings: batchSettings(stack.config) });
        expect(result.outcome).toBe('done');
        expect(await batchCounters(stack, batch.id)).toMatchObject({ status: 'done', successful_checks: 0, failed_checks: 4 });
        const failures = await stack.db.sql<{ details: { error_type: string; error_message: string } }[]>`
          select details from batch_logs where batch_id = ${batch.id} and event_type = 'CHECK_FAILED'`;
        expect(failures).toHaveLength(4);
        for (const f of failures) {
          expect(f.details.error_type).toBe('upstream_error');
          expect(f.details.error_message).toMatch(/after 3 attempts/);
        }
        const rows = await stack.db.sql<{ attempts: number; status: string }[]>`
          select attempts, status from batch_profiles where batch_id = ${batch.id}`;
        expect(rows.every((r) => r.attempts === 3 && r.status === 'failed')).toBe(true);
        expect((await eventCounts(stack, batch.id)).CHECK_RETRY).toBeGreaterThanOrEqual(2);
        // two backoffs of 10 and 20 minutes passed on the workflow clock
        expect((await server.env.currentTimeMs()) - startedAt).toBeGreaterThanOrEqual(30 * 60_000);
        // a failed check changes none of the profile statistics
        const [stats] = await stack.db.sql<{ checks: number }[]>`select sum(total_checks)::int as checks from profiles`;
        expect(stats!.checks).toBe(0);
      },
    );
  });

  it('a pause frees the runner at once even while a chunk waits out an hour-long rest; a resumed run checks only what is left', async () => {
    await withWorker(
      { proxies: 1, sim: { ratePerSecond: 5, burst: 2, retryAfter: 3600 }, env: { CHECK_CHUNK_SIZE: '5', BATCH_CONCURRENCY: '1' } },
      async (stack, taskQueue) => {
        const batch = await makeRunningBatch(stack, usernames(30));
        const handle = await startBatch(server.env, taskQueue, { batchId: batch.id, settings: batchSettings(stack.config) });
        // wait for the first rest to begin, then pause as the API does: Postgres first, then the signal
        await waitFor(async () => (await eventCounts(stack, batch.id)).RATE_LIMITED! >= 1);
        await pauseBatch(stack.db.sql, batch.id);
        await handle.signal(pauseSignal);
        // time is skipped only while a result is awaited: the pause is taken in, and the resting chunk
        // cancelled, before the server may skip ahead (on a busy machine it could skip to the chunk's timeout)
        await waitFor(async () => ((await handle.describe()).raw.pendingActivities ?? []).length === 0);
        const first = await handle.result();
        expect(first.outcome).toBe('paused');
        // the chunk waiting out the hour-long rest was cancelled: on the workflow's clock the run ended
        // right after the pause signal, without waiting that hour
        const events = (await handle.fetchHistory()).events ?? [];
        const at = (e: (typeof events)[number] | undefined) => Number(e?.eventTime?.seconds ?? 0) * 1000;
        const signalled = events.find((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'pause');
        const closed = events.find((e) => e.workflowExecutionCompletedEventAttributes);
        expect(signalled && closed).toBeTruthy();
        expect(at(closed) - at(signalled)).toBeLessThan(60_000);
        expect(events.some((e) => e.activityTaskCancelRequestedEventAttributes)).toBe(true);
        const paused = await batchCounters(stack, batch.id);
        expect(paused.status).toBe('paused');
        expect(paused.successful_checks).toBeLessThan(30);

        await resumeBatch(stack.db.sql, batch.id);
        const again = await claimNextBatch(stack.db.sql);
        expect(again?.id).toBe(batch.id);
        const second = await executeBatch(server.env, taskQueue, { batchId: batch.id, settings: batchSettings(stack.config) });
        expect(second.outcome).toBe('done');
        expect(await batchCounters(stack, batch.id)).toMatchObject({ status: 'done', successful_checks: 30, failed_checks: 0 });
        // nobody was counted twice: every profile has exactly one successful check
        const counts = await stack.db.sql<{ total_checks: number }[]>`select total_checks from profiles`;
        expect(counts.every((c) => c.total_checks === 1)).toBe(true);
        // the second run asked only for the profiles the first had not finished
        expect(second.totals.successful).toBe(30 - paused.successful_checks);
      },
    );
  });

  it('a queue held for 30 days keeps every run\'s history short, re-reads Postgres all along, and loses no deferred chunk', async () => {
    await withWorker(
      { proxies: 1, sim: { latencyMs: 100 }, env: { CHECK_CHUNK_SIZE: '5', BATCH_CONCURRENCY: '1' } },
      async (stack, taskQueue) => {
        // four hours between re-reads keep 30 simulated days to 180 of them, still two continues-as-new (a run
        // continues past 500 events, about 80 reads); the bound on each history does not depend on the interval
        const settings = { ...batchSettings(stack.config), heldRecheckMs: 4 * 3_600_000 };
        const batch = await makeRunningBatch(stack, usernames(30));
        const handle = await startBatch(server.env, taskQueue, { batchId: batch.id, settings });
        await waitFor(async () => ((await eventCounts(stack, batch.id)).STORY_CHECK_SUCCESS ?? 0) >= 5);
        // held in Postgres with the signal lost: the next chunk sent comes back deferred, unchecked
        await setQueuePaused(stack.db.sql, true);
        await waitFor(async () => (await handle.query(progressQuery)).state === 'queue_paused');
        const heldAt = await batchCounters(stack, batch.id);
        expect(heldAt.successful_checks).toBeLessThan(30);
        const requestsHeld = stack.sim.stats.requests;

        await server.env.sleep('30 days');
        expect(stack.sim.stats.requests).toBe(requestsHeld);
        expect((await batchCounters(stack, batch.id)).successful_checks).toBe(heldAt.successful_checks);

        await setQueuePaused(stack.db.sql, false);
        await handle.signal(queuePausedSignal, false);
        const result = await handle.result();
        expect(result.outcome).toBe('done');
        expect(await batchCounters(stack, batch.id)).toMatchObject({ status: 'done', successful_checks: 30, failed_checks: 0 });
        const counts = await stack.db.sql<{ total_checks: number }[]>`select total_checks from profiles`;
        expect(counts).toHaveLength(30);
        expect(counts.every((c) => c.total_checks === 1)).toBe(true);

        const runs = await historiesOf(handle.workflowId, handle.firstExecutionRunId);
        const sizes = runs.map((events) => events.length);
        expect(runs.length).toBeGreaterThan(1);
        expect(Math.max(...sizes)).toBeLessThan(1_000);
        // Postgres was re-read all along (each read is a loadChunks marker): once per interval over 30 days
        const reads = runs.flat().filter((e) => e.markerRecordedEventAttributes).length;
        expect(reads).toBeGreaterThanOrEqual((30 * 24 * 60 * 60_000) / settings.heldRecheckMs);
        // and the runs that continued-as-new while held replay deterministically
        const replays = Worker.runReplayHistories(
          { workflowBundle: server.bundle, replayName: 'held-replay' },
          runs.map((events, i) => ({ workflowId: `${handle.workflowId}-run-${i}`, history: { events } })),
        );
        for await (const replay of replays) expect(replay.error).toBeUndefined();
      },
    );
  });
});

/** The events of every run of a workflow, first to last, following continue-as-new. */
async function historiesOf(workflowId: string, firstRunId: string): Promise<HistoryEvent[][]> {
  const runs: HistoryEvent[][] = [];
  let runId: string | null | undefined = firstRunId;
  while (runId) {
    const events: HistoryEvent[] = (await server.env.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
    runs.push(events);
    runId = events.find((e) => e.workflowExecutionContinuedAsNewEventAttributes)?.workflowExecutionContinuedAsNewEventAttributes
      ?.newExecutionRunId;
  }
  return runs;
}

