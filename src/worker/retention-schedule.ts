/**
 * The `retention` Temporal Schedule: starts `retentionWorkflow` every RETENTION_INTERVAL_MS, so story events,
 * ended story items, batch logs and (when BATCH_RETENTION_DAYS is set) finished batches are deleted once the
 * retention settings no longer keep them. Ensured by every worker at start, rounds never overlapping
 * (src/worker/interval-schedule.ts).
 */
import type { Client } from '@temporalio/client';
import { RETENTION_SCHEDULE_ID, retentionWorkflow } from '../../workflows/retention.js';
import { ensureIntervalSchedule } from './interval-schedule.js';

export function ensureRetentionSchedule(client: Client, options: { taskQueue: string; intervalMs: number }): Promise<void> {
  return ensureIntervalSchedule(client, {
    scheduleId: RETENTION_SCHEDULE_ID,
    workflowType: retentionWorkflow,
    workflowId: 'retention-round',
    ...options,
  });
}
