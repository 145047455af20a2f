/**
 * The `proxy-health` Temporal Schedule: starts `proxyHealthWorkflow` every PROXY_HEALTH_INTERVAL_MS, so resting
 * and failure-disabled proxies and invalid sessions are probed and brought back without an operator. Every
 * worker ensures it at start (idempotent: created once; its interval, task queue and overlap policy updated
 * after that), and operators see its runs in the Web UI's Schedules page.
 *
 * Rounds never overlap: a round still running when the next is due makes the schedule skip that one (SKIP).
 * An update sets the policy too, since it replaces what a schedule created by an older worker had.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { PROXY_HEALTH_SCHEDULE_ID, proxyHealthWorkflow } from '../../workflows/proxy-health.js';

export async function ensureProxyHealthSchedule(client: Client, options: { taskQueue: string; intervalMs: number }): Promise<void> {
  const spec = { intervals: [{ every: options.intervalMs }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: proxyHealthWorkflow,
    taskQueue: options.taskQueue,
    workflowId: 'proxy-health-round',
    // a round stuck on a slow proxy must not outlive the next one
    workflowExecutionTimeout: Math.max(60_000, options.intervalMs),
  };
  // a round still running when the next is due: skip that one
  const overlap = ScheduleOverlapPolicy.SKIP;
  try {
    await client.schedule.create({
      scheduleId: PROXY_HEALTH_SCHEDULE_ID,
      spec,
      action,
      policies: { overlap },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule
      .getHandle(PROXY_HEALTH_SCHEDULE_ID)
      .update((previous) => ({ ...previous, spec, action, policies: { ...previous.policies, overlap } }));
  }
}
