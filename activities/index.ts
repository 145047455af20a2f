/**
 * Activities, built by a factory that receives their dependencies (the worker builds them once).
 * Workflows import only the type of this object.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';
import type { Config } from '../src/config.js';
import type { Sql } from '../src/db/sql.js';
import type { Checker, CheckChunkInput } from '../src/check/checker.js';
import { EXPECTED_WAITS, RetryLater } from '../src/check/checker.js';
import type { HealthProbe, ProbeReport, SessionVerdict } from '../src/health/probe.js';
import { timeChunk } from '../src/metrics/worker.js';
import type { ProxyPool } from '../src/pool/pool.js';
import { nextChunks } from '../src/repos/batch-profiles.js';
import { readRunState } from '../src/repos/batches.js';
import { claimNextBatch, completeBatch, failBatch } from '../src/repos/queue.js';
import { clearBlocked, noteBlocked } from '../src/repos/stalls.js';
import type { BatchSettings, ChunkPage, ClaimedBatch } from './types.js';

export interface ActivityDeps {
  sql: Sql;
  pool: ProxyPool;
  checker: Checker;
  health: HealthProbe;
  config: Config;
}

/** The run settings a batch workflow records, from this worker's configuration. */
export function batchSettings(config: Config): BatchSettings {
  return {
    chunkSize: config.CHECK_CHUNK_SIZE,
    concurrency: config.BATCH_CONCURRENCY,
    profilesPerRun: config.BATCH_PROFILES_PER_RUN,
    retry: {
      initialIntervalMs: config.CHECK_INITIAL_INTERVAL_MS,
      maximumIntervalMs: config.CHECK_MAX_INTERVAL_MS,
      backoffCoefficient: config.CHECK_BACKOFF,
    },
    // at least what a full chunk of first checks may take when every request is paced and slow
    chunkTimeoutMs: Math.max(
      config.CHECK_CHUNK_TIMEOUT_MS,
      (config.CHECK_CHUNK_SIZE + 1) * (config.PROXY_MIN_INTERVAL_MS + config.CHECK_TIMEOUT_MS),
    ),
    heartbeatTimeoutMs: config.CHECK_HEARTBEAT_TIMEOUT_MS,
    // often enough that a held batch's stall is noticed within BATCH_STALL_AFTER_MS, at most every 5 minutes
    heldRecheckMs: Math.min(300_000, Math.max(1_000, Math.floor(config.BATCH_STALL_AFTER_MS / 2))),
    searchAttributes: config.TEMPORAL_SEARCH_ATTRIBUTES,
  };
}

export function createActivities({ sql, pool, checker, health, config }: ActivityDeps) {
  return {
    async claimNextBatch(): Promise<ClaimedBatch | null> {
      const batch = await claimNextBatch(sql);
      if (!batch) return null;
      return {
        batchId: batch.id,
        name: batch.name,
        run: batch.run_count,
        totalProfiles: batch.total_profiles,
        workflowId: batch.workflow_id!,
        settings: batchSettings(config),
      };
    },

    async loadChunks(input: { batchId: string; afterOrdinal: number; maxChunks: number; chunkSize: number }): Promise<ChunkPage> {
      const { status, queuePaused, stalledReason, counts } = await readRunState(sql, input.batchId);
      // the stall as it stands once this read has noted or cleared the held queue (see stalls.ts)
      let stalled = status === 'running' ? stalledReason : null;
      if (status === 'running') {
        // a held queue is a reason the batch cannot send: noted here, on every re-read while held
        if (queuePaused) {
          const { stalled: heldTooLong } = await noteBlocked(sql, input.batchId, 'queue_held', new Date(), config.BATCH_STALL_AFTER_MS);
          stalled = heldTooLong ? 'queue_held' : null;
        } else {
          await clearBlocked(sql, input.batchId, new Date(), 'queue_held');
          if (stalled === 'queue_held') stalled = null;
        }
      }
      const page =
        input.maxChunks > 0 && status === 'running'
          ? await nextChunks(sql, input.batchId, input.afterOrdinal, input.chunkSize, input.maxChunks)
          : { chunks: [] };
      const { usable, sendSlots } = await pool.stats();
      return {
        chunks: page.chunks,
        status: status ?? 'missing',
        queuePaused,
        usableProxies: usable,
        // the window follows what the pool can carry now: proxies that rest or are disabled, and sessions, bound it
        sendSlots,
        stalledReason: stalled,
        counts,
      };
    },

    async checkChunk(input: Omit<CheckChunkInput, 'holder'>) {
      const ctx = Context.current();
      const { workflowExecution, activityId, attempt } = ctx.info;
      // The batch stopping cancels its chunks: one waiting for a retry ends at once, and a running one is left
      // to reach its next check of the stored status, so a request already answered is still persisted.
      // A timeout or a worker shutdown aborts the requests in flight.
      const abort = new AbortController();
      const onCancel = () => {
        const reason: unknown = ctx.cancellationSignal.reason;
        if (!(reason instanceof Error && reason.message === 'CANCELLED')) abort.abort(reason);
      };
      if (ctx.cancellationSignal.aborted) onCancel();
      else ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
      try {
        return await timeChunk(
          () =>
            checker.checkChunk(
              { ...input, holder: `${workflowExecution?.workflowId ?? 'activity'}/${activityId}#${attempt}` },
              {
                signal: abort.signal,
                heartbeat: () => ctx.heartbeat(),
                ...(ctx.info.startToCloseTimeoutMs ? { deadline: performance.now() + ctx.info.startToCloseTimeoutMs } : {}),
              },
            ),
          (err) => (err instanceof RetryLater ? 'retry' : 'error'),
        );
      } catch (err) {
        if (err instanceof RetryLater) {
          throw ApplicationFailure.create({
            type: err.reason,
            message: err.message,
            nonRetryable: false,
            // the checker knows the wait (a proxy's rest, the profiles' own backoff): it replaces the policy's
            nextRetryDelay: Math.max(err.delayMs, 10),
            // waiting for a proxy or for a rate limit to pass (EXPECTED_WAITS) is the pool working as meant, not a fault: the
            // SDK logs a benign failure at debug and leaves it out of its failure metrics
            ...(EXPECTED_WAITS.has(err.reason) ? { category: ApplicationFailureCategory.BENIGN } : {}),
          });
        }
        throw err;
      } finally {
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
      }
    },

    /** One round of the proxy-health schedule: probe resting and failure-disabled proxies, and invalid sessions. */
    async probeHealth(): Promise<ProbeReport> {
      const ctx = Context.current();
      // the round ends within its budget, below this activity's timeout; what it did not reach waits for the next
      return health.probeAll({
        activityTimeoutMs: ctx.info.startToCloseTimeoutMs,
        heartbeat: () => ctx.heartbeat(),
        signal: ctx.cancellationSignal,
      });
    },

    /** One probe of one session (POST /sessions/:id/validate). */
    async validateSession(input: { sessionId: string }): Promise<SessionVerdict> {
      return health.validateSession(input.sessionId);
    },

    async completeBatch(input: { batchId: string }): Promise<string> {
      return (await completeBatch(sql, input.batchId)).status;
    },

    async failBatch(input: { batchId: string; message: string }): Promise<void> {
      await failBatch(sql, input.batchId, input.message);
    },
  };
}
