/**
 * BatchWorkflow(batchId): checks a batch's unfinished profiles in chunks (one upstream request per chunk of up
 * to 50), keeping a sliding window of chunks in flight, bounded by the configured concurrency and by usable
 * proxies. Profiles are paged from Postgres by cursor, never passed in arguments.
 *
 * History budget: a chunk costs 3 events (scheduled, started, completed: retries add none), a page of chunks
 * 1 marker (local activity). A run hands out `profilesPerRun` profiles (and at most MAX_CHUNKS_PER_RUN
 * chunks), then drains its window and continues-as-new carrying the cursor and totals: with 50 per chunk and
 * 2,000 per run, about 130 events; never more than about 1,300.
 *
 * Postgres is the source of truth for the batch's status: pause/cancel signals are the fast path, and every
 * page read (and every chunk, before sending) checks the stored status too, so a lost signal still stops it.
 */
import {
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import { BatchStatusAttribute } from './search-attributes.js';
import { cancelSignal, latestQueuePaused, pauseSignal, progressQuery, queuePausedSignal } from './signals.js';
import type { BatchOutcome, BatchResult, BatchRunTotals, BatchWorkflowInput } from './types.js';

type Activities = ReturnType<typeof createActivities>;

/** Chunks per run whatever their size: small chunks (e.g. CHECK_CHUNK_SIZE=1) must not grow the history. */
const MAX_CHUNKS_PER_RUN = 400;

/** How often a held queue is re-read from Postgres, in case a resume signal was lost. */
const QUEUE_PAUSE_RECHECK = '5 minutes';

const emptyTotals = (): BatchRunTotals => ({ successful: 0, failed: 0, storiesFound: 0, requests: 0, chunks: 0, runs: 0 });

export async function batchWorkflow(input: BatchWorkflowInput): Promise<BatchResult> {
  const { batchId, settings } = input;
  const { checkChunk } = proxyActivities<Activities>({
    startToCloseTimeout: settings.chunkTimeoutMs,
    heartbeatTimeout: settings.heartbeatTimeoutMs,
    retry: {
      initialInterval: settings.retry.initialIntervalMs,
      maximumInterval: settings.retry.maximumIntervalMs,
      backoffCoefficient: settings.retry.backoffCoefficient,
      // no maximumAttempts: the per-profile attempt limit lives in Postgres (CHECK_MAX_ATTEMPTS), and waits
      // for a free proxy or the end of a rate-limit rest are not the profile's attempts
    },
  });
  const { loadChunks, completeBatch } = proxyLocalActivities<Activities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });

  const totals: BatchRunTotals = { ...(input.totals ?? emptyTotals()), runs: (input.totals?.runs ?? 0) + 1 };
  let cursor = input.cursor ?? 0;
  let stop: 'paused' | 'cancelled' | 'stopped' | null = null;
  let queuePaused = false;
  let exhausted = false;
  let inFlight = 0;
  let windowSize = 1;
  let handedOut = 0;
  let chunksHere = 0;
  let unexpected: unknown = null;
  /** Chunks fetched but not started, and chunks sent back because the queue was held. */
  const ready: Array<{ profileIds: string[]; lastOrdinal: number }> = [];
  const deferred: string[][] = [];

  /** Every chunk runs in this scope: stopping cancels chunks still waiting out a retry delay (which can be
   * an hour-long proxy rest), so a paused or cancelled batch frees the runner at once. */
  const chunkScope = new CancellationScope();
  const requestStop = (why: 'paused' | 'cancelled' | 'stopped') => {
    if (stop) return;
    stop = why;
    chunkScope.cancel();
  };
  /** A chunk came back deferred: the queue was held when it tried, but may have resumed since. */
  let recheckQueue = false;

  setHandler(pauseSignal, () => requestStop('paused'));
  setHandler(cancelSignal, () => requestStop('cancelled'));
  setHandler(queuePausedSignal, latestQueuePaused((paused) => void (queuePaused = paused)));
  setHandler(progressQuery, () => ({
    batchId,
    state: stop ? (inFlight ? 'stopping' : 'finished') : queuePaused ? 'queue_paused' : 'running',
    inFlightChunks: inFlight,
    windowSize,
    cursor,
    totals,
  }));

  const setStatus = (status: string) => {
    if (settings.searchAttributes) upsertSearchAttributes([{ key: BatchStatusAttribute, value: status }]);
  };
  setStatus('running');

  const applyStoredStatus = (status: string) => {
    if (status === 'running') return;
    requestStop(status === 'paused' || status === 'cancelled' ? status : 'stopped');
  };

  const launch = (profileIds: string[]) => {
    inFlight++;
    totals.chunks++;
    chunkScope
      .run(() => checkChunk({ batchId, profileIds }))
      .then((result) => {
        if (result.kind === 'done') {
          totals.successful += result.successful;
          totals.failed += result.failed;
          totals.storiesFound += result.storiesFound;
          totals.requests += result.requests;
        } else if (result.kind === 'deferred') {
          // not `queuePaused = true`: a resume signal may already have arrived; Postgres says which
          recheckQueue = true;
          deferred.push(profileIds);
        } else {
          applyStoredStatus(result.status);
        }
      })
      .catch((err: unknown) => {
        // a chunk cancelled because the batch stopped is not a failure: its profiles stay unfinished
        if (stop && isCancellation(err)) return;
        if (unexpected) return;
        // the batch will end as `error`: do not wait for other chunks' retry delays either
        unexpected = err;
        chunkScope.cancel();
      })
      .finally(() => inFlight--);
  };

  for (;;) {
    await runWindow();
    // let in-flight checks finish and persist; chunks they sent back while the queue was held go round again
    await condition(() => inFlight === 0);
    if (unexpected) throw unexpected;
    if (stop || deferred.length === 0) break;
  }

  async function runWindow(): Promise<void> {
    for (;;) {
      if (stop || unexpected) return;
      if (recheckQueue) {
        recheckQueue = false;
        const page = await loadChunks({ batchId, afterOrdinal: cursor, maxChunks: 0, chunkSize: settings.chunkSize });
        applyStoredStatus(page.status);
        queuePaused = page.queuePaused;
        continue;
      }
      if (queuePaused) {
        if (!(await condition(() => !queuePaused || stop !== null || unexpected !== null, QUEUE_PAUSE_RECHECK))) {
          const page = await loadChunks({ batchId, afterOrdinal: cursor, maxChunks: 0, chunkSize: settings.chunkSize });
          applyStoredStatus(page.status);
          queuePaused = page.queuePaused;
        }
        continue;
      }
      if (deferred.length) {
        if (inFlight >= windowSize) {
          await condition(() => inFlight < windowSize || stop !== null || queuePaused || recheckQueue || unexpected !== null);
          continue;
        }
        launch(deferred.shift()!);
        continue;
      }
      if (ready.length === 0 && !exhausted) {
        if (handedOut >= settings.profilesPerRun || chunksHere >= MAX_CHUNKS_PER_RUN || workflowInfo().continueAsNewSuggested) {
          return;
        }
        const page = await loadChunks({
          batchId,
          afterOrdinal: cursor,
          maxChunks: Math.max(settings.concurrency * 2, 4),
          chunkSize: settings.chunkSize,
        });
        applyStoredStatus(page.status);
        queuePaused = page.queuePaused;
        windowSize = Math.max(1, Math.min(settings.concurrency, page.usableProxies || 1));
        ready.push(...page.chunks);
        if (page.chunks.length === 0) exhausted = true;
        continue;
      }
      if (ready.length === 0) return; // exhausted: everything handed out
      if (inFlight >= windowSize) {
        await condition(() => inFlight < windowSize || stop !== null || queuePaused || recheckQueue || unexpected !== null);
        continue;
      }
      const chunk = ready.shift()!;
      cursor = chunk.lastOrdinal;
      handedOut += chunk.profileIds.length;
      chunksHere++;
      launch(chunk.profileIds);
    }
  }

  let outcome: BatchOutcome;
  if (stop) {
    outcome = stop;
  } else if (exhausted && ready.length === 0) {
    const status = await completeBatch({ batchId });
    outcome = status === 'done' ? 'done' : status === 'paused' || status === 'cancelled' ? status : 'stopped';
  } else {
    // more to do: a fresh run with a short history, starting after the last chunk handed out
    return continueAsNew<typeof batchWorkflow>({ batchId, settings, cursor, totals });
  }
  setStatus(outcome === 'stopped' ? 'running' : outcome);
  return { batchId, outcome, totals };
}
