/**
 * The activity of a watch's tick (workflows/watch-tick.ts): the tick in Postgres (src/repos/watch-ticks.ts),
 * then, when it queued a batch, the queue runner woken (as src/queue/batch-control.ts does after a create), and
 * the tick counted in `storycheck_watch_ticks_total{result}` once per scheduled time.
 *
 * A wake that fails is logged, not thrown: the batch is committed, and every worker starts or wakes the runner
 * on its own while Postgres holds queued work (src/queue/watch.ts).
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../src/config.js';
import type { Sql } from '../src/db/sql.js';
import type { WatchTickResult } from '../src/enums.js';
import type { Logger } from '../src/logging/logger.js';
import { countWatchTick } from '../src/metrics/worker.js';
import { wakeRunner } from '../src/queue/batch-control.js';
import { runWatchTick, type WatchSkipReason } from '../src/repos/watch-ticks.js';

export interface WatchTickInput {
  watchId: string;
  /** The tick's scheduled time, ISO. */
  scheduledAt: string;
}

/** What a tick did, as its run's result shows in the Web UI. */
export interface WatchTickReport {
  result: WatchTickResult;
  batchId: string | null;
  skipReason: WatchSkipReason | null;
  /** The batch existed already: a retried tick, nothing created this time. */
  existing: boolean;
}

export interface WatchTickDeps {
  sql: Sql;
  config: Pick<Config, 'TEMPORAL_TASK_QUEUE'>;
  logger: Logger;
  /** The client that wakes the queue runner. */
  temporal: () => Client;
}

export function createWatchTickActivities({ sql, config, logger, temporal }: WatchTickDeps) {
  return {
    async createWatchBatch(input: WatchTickInput): Promise<WatchTickReport> {
      const outcome = await runWatchTick(sql, { watchId: input.watchId, scheduledAt: new Date(input.scheduledAt) });
      if (outcome.firstRecord) countWatchTick(outcome.result);
      if (outcome.result === 'skipped') {
        logger.info('watch tick skipped', { watch_id: input.watchId, scheduled_at: input.scheduledAt, reason: outcome.reason, previous_batch_id: outcome.previousBatchId });
        return { result: 'skipped', batchId: null, skipReason: outcome.reason, existing: false };
      }
      if (!outcome.existing) {
        logger.info('watch tick queued a batch', { watch_id: input.watchId, scheduled_at: input.scheduledAt, batch_id: outcome.batch.id });
      }
      if (outcome.batch.status === 'queued') {
        try {
          await wakeRunner(temporal(), config.TEMPORAL_TASK_QUEUE);
        } catch (err) {
          logger.warn('could not wake the batch queue after a watch tick; a worker starts or wakes it on its next queue check', { err, batch_id: outcome.batch.id });
        }
      }
      return { result: 'created', batchId: outcome.batch.id, skipReason: null, existing: outcome.existing };
    },
  };
}
