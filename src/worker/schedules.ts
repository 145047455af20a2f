/**
 * The Temporal Schedules every worker makes sure of when it starts (`npm run worker`, and the worker inside
 * `npm run dev`), with the intervals of its configuration: `proxy-health` (the pool heals itself) and
 * `retention` (old rows are deleted).
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config.js';
import { ensureProxyHealthSchedule } from './health-schedule.js';
import { ensureRetentionSchedule } from './retention-schedule.js';

export async function ensureWorkerSchedules(
  client: Client,
  config: Pick<Config, 'TEMPORAL_TASK_QUEUE' | 'PROXY_HEALTH_INTERVAL_MS' | 'RETENTION_INTERVAL_MS'>,
): Promise<void> {
  const taskQueue = config.TEMPORAL_TASK_QUEUE;
  await ensureProxyHealthSchedule(client, { taskQueue, intervalMs: config.PROXY_HEALTH_INTERVAL_MS });
  await ensureRetentionSchedule(client, { taskQueue, intervalMs: config.RETENTION_INTERVAL_MS });
}
