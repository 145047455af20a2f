/**
 * The `proxy-health` Temporal Schedule: starts `proxyHealthWorkflow` every PROXY_HEALTH_INTERVAL_MS, so resting
 * and failure-disabled proxies and invalid sessions are probed and brought back without an operator. Ensured by
 * every worker at start, rounds never overlapping (src/worker/interval-schedule.ts).
 */
import type { Client } from '@temporalio/client';
import { PROXY_HEALTH_SCHEDULE_ID, proxyHealthWorkflow } from '../../workflows/proxy-health.js';
import { ensureIntervalSchedule } from './interval-schedule.js';

export function ensureProxyHealthSchedule(client: Client, options: { taskQueue: string; intervalMs: number }): Promise<void> {
  return ensureIntervalSchedule(client, {
    scheduleId: PROXY_HEALTH_SCHEDULE_ID,
    workflowType: proxyHealthWorkflow,
    workflowId: 'proxy-health-round',
    ...options,
  });
}
