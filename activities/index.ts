/**
 * Activities, built by a factory that receives their dependencies (the worker builds them once).
 * Workflows import only the type of this object.
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Config } from '../src/config.js';
import type { Sql } from '../src/db/sql.js';
import type { Checker, CheckChunkInput } from '../src/check/checker.js';
import type { HealthProbe, ProbeReport, SessionVerdict } from '../src/health/probe.js';
import type { Logger } from '../src/logging/logger.js';
import type { ProxyPool } from '../src/pool/pool.js';
import type { RemovedRows } from '../src/repos/retention.js';
import { claimNextBatch, completeBatch, failBatch } from '../src/repos/queue.js';
import { checkChunkInActivity } from './check-chunk.js';
import { loadChunkPage, type LoadChunksInput } from './load-chunks.js';
import { removeExpiredRowsInActivity } from './retention.js';
import { createWatchTickActivities } from './watch-tick.js';
import { createWebhookDeliveryActivities } from './webhook-delivery.js';
import type { BatchSettings, ChunkPage, ClaimedBatch } from './types.js';

export interface ActivityDeps {
  sql: Sql;
  pool: ProxyPool;
  checker: Checker;
  health: HealthProbe;
  config: Config;
  /** The worker's logger (an activity's lines carry its Temporal ids: src/worker/log-context.ts). */
  logger: Logger;
  /**
   * The client activities start or signal workflows with (a watch tick wakes the queue runner). Without one, the
   * worker's own client, which the activity context carries.
   */
  temporal?: Client;
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

export function createActivities({ sql, pool, checker, health, config, logger, temporal }: ActivityDeps) {
  return {
    // watches: one tick of a watch's Schedule (createWatchBatch)
    ...createWatchTickActivities({ sql, config, logger, temporal: () => temporal ?? Context.current().client }),

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

    async loadChunks(input: LoadChunksInput): Promise<ChunkPage> {
      return loadChunkPage({ sql, pool, config }, input);
    },

    async checkChunk(input: Omit<CheckChunkInput, 'holder'>) {
      return checkChunkInActivity(checker, input);
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

    /** One round of the retention schedule: delete what the retention settings no longer keep; counts per table. */
    async removeExpiredRows(): Promise<RemovedRows> {
      return removeExpiredRowsInActivity({ sql, config, logger });
    },

    async completeBatch(input: { batchId: string }): Promise<string> {
      return (await completeBatch(sql, input.batchId)).status;
    },

    async failBatch(input: { batchId: string; message: string }): Promise<void> {
      await failBatch(sql, input.batchId, input.message);
    },

    // webhook deliveries: sendWebhook, finishWebhookDelivery
    ...createWebhookDeliveryActivities({ sql, config, logger }),
  };
}
