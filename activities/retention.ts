/**
 * One round of the `retention` schedule inside its activity: the worker's retention settings as a policy, a
 * heartbeat after every slice, and a stop at the next slice once the activity is cancelled (a timeout, a
 * worker shutting down): the rows already deleted stay deleted, and the next round goes on from there.
 */
import { Context } from '@temporalio/activity';
import type { Config } from '../src/config.js';
import type { Sql } from '../src/db/sql.js';
import type { Logger } from '../src/logging/logger.js';
import { removeExpiredRows, type RemovedRows, type RetentionPolicy } from '../src/repos/retention.js';

/** What the worker's configuration keeps (STORY_RETENTION_DAYS, LOG_RETENTION_DAYS, BATCH_RETENTION_DAYS). */
export function retentionPolicy(config: Config): RetentionPolicy {
  return { storyDays: config.STORY_RETENTION_DAYS, logDays: config.LOG_RETENTION_DAYS, batchDays: config.BATCH_RETENTION_DAYS ?? null };
}

export async function removeExpiredRowsInActivity(deps: { sql: Sql; config: Config; logger: Logger }): Promise<RemovedRows> {
  const ctx = Context.current();
  const policy = retentionPolicy(deps.config);
  const removed = await removeExpiredRows(deps.sql, policy, {
    between: () => {
      ctx.heartbeat();
      ctx.cancellationSignal.throwIfAborted();
    },
  });
  // the worker's own logger, at info: the SDK's activity logger passes only warnings on unless LOG_LEVEL is debug
  const fields = { removed, story_retention_days: policy.storyDays, log_retention_days: policy.logDays, batch_retention_days: policy.batchDays };
  if (Object.values(removed).some((n) => n > 0)) deps.logger.info('retention round removed expired rows', fields);
  else deps.logger.debug('retention round found nothing to remove', fields);
  return removed;
}
