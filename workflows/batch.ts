/**
 * BatchWorkflow(batchId): checks a batch's unfinished profiles in chunks (one upstream request per chunk of up
 * to 50), keeping a sliding window of chunks in flight, bounded by the configured concurrency and by usable
 * proxies. Profiles are paged from Postgres by cursor, never passed in arguments. The loop itself is
 * `BatchRun` (batch-run.ts).
 *
 * History budget: a chunk costs 3 events (scheduled, started, completed: retries add none), a page of chunks
 * 1 marker (local activity). A run hands out `profilesPerRun` profiles (and at most MAX_CHUNKS_PER_RUN
 * chunks), then drains its window and continues-as-new carrying the cursor and totals: with 50 per chunk and
 * 2,000 per run, about 130 events; never more than about 1,300. A run held by a paused queue re-reads Postgres
 * every `heldRecheckMs` (about 6 events each) and continues-as-new once its history passes 500 events, so a
 * queue held for weeks never outgrows one history.
 *
 * Postgres is the source of truth for the batch's status: pause/cancel signals are the fast path, and every
 * page read (and every chunk, before sending) checks the stored status too, so a lost signal still stops it.
 *
 * In the Web UI (run-description.ts): the queue gives the first run its static summary and details; each chunk
 * activity is summarised by its size and first and last usernames; the run's current details show progress,
 * state and stall. A run continued as new has no static summary (continue-as-new cannot set one): its current
 * details start with the same line, from the label the runs carry.
 *
 * `poolChanged` (passed on by the queue runner) restarts the chunks waiting for a proxy or session (see
 * batch-run.ts). For that, chunk activities wait for a cancellation to complete: a running chunk is never
 * abandoned. Runs recorded before this let a cancelled chunk go at once (a pause could end a run while one of
 * its chunks still ran, which waiting would not replay), so the choice is marked with a patch and such runs
 * replay as they were.
 */
import {
  ActivityCancellationType,
  continueAsNew,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import { BatchRun, CHUNK_RESTART_PATCH } from './batch-run.js';
import { cancelSignal, latestQueuePaused, pauseSignal, poolChangedSignal, progressQuery, queuePausedSignal } from './signals.js';
import type { BatchResult, BatchWorkflowInput } from './types.js';

type Activities = ReturnType<typeof createActivities>;

export async function batchWorkflow(input: BatchWorkflowInput): Promise<BatchResult> {
  const { settings } = input;
  const chunkOptions: ActivityOptions = {
    startToCloseTimeout: settings.chunkTimeoutMs,
    heartbeatTimeout: settings.heartbeatTimeoutMs,
    retry: {
      initialInterval: settings.retry.initialIntervalMs,
      maximumInterval: settings.retry.maximumIntervalMs,
      backoffCoefficient: settings.retry.backoffCoefficient,
      // no maximumAttempts: the per-profile attempt limit lives in Postgres (CHECK_MAX_ATTEMPTS), and waits
      // for a free proxy or the end of a rate-limit rest are not the profile's attempts
    },
  };
  const restartsOnPoolChange = patched(CHUNK_RESTART_PATCH);
  const { checkChunk } = proxyActivities<Activities>(
    restartsOnPoolChange ? { ...chunkOptions, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : chunkOptions,
  );
  const { loadChunks, completeBatch } = proxyLocalActivities<Activities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });

  const run = new BatchRun(
    input,
    {
      // the call's options are merged onto the proxy's: only the summary the Web UI shows is added
      checkChunk: (chunk, summary) => checkChunk.executeWithOptions({ summary }, [chunk]),
      loadChunks,
      completeBatch,
    },
    { restartsOnPoolChange },
  );
  setHandler(pauseSignal, () => run.requestStop('paused'));
  setHandler(cancelSignal, () => run.requestStop('cancelled'));
  setHandler(queuePausedSignal, latestQueuePaused((paused) => run.setQueuePaused(paused)));
  setHandler(poolChangedSignal, () => run.poolChanged());
  setHandler(progressQuery, () => run.progress());

  const end = await run.run();
  if ('continueWith' in end) return continueAsNew<typeof batchWorkflow>(end.continueWith);
  return end.result;
}
