/**
 * A Temporal Schedule that starts one workflow every so often (`proxy-health`, `retention`). Every worker
 * ensures its schedules at start (src/worker/schedules.ts), idempotently: a schedule is created once; after that
 * its interval, task queue, action and overlap policy are updated to the worker's configuration. Operators see
 * its runs in the Web UI's Schedules page.
 *
 * Rounds never overlap: a round still running when the next is due makes the schedule skip that one (SKIP).
 * An update sets the policy too, since it replaces what a schedule created by an older worker had.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';

export interface IntervalSchedule {
  scheduleId: string;
  /** The workflow each round runs, and the id its runs share. */
  workflowType: Workflow;
  workflowId: string;
  taskQueue: string;
  intervalMs: number;
}

export async function ensureIntervalSchedule(client: Client, schedule: IntervalSchedule): Promise<void> {
  const spec = { intervals: [{ every: schedule.intervalMs }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: schedule.workflowType,
    taskQueue: schedule.taskQueue,
    workflowId: schedule.workflowId,
    // a round stuck on something slow must not outlive the next one
    workflowExecutionTimeout: Math.max(60_000, schedule.intervalMs),
  };
  // a round still running when the next is due: skip that one
  const overlap = ScheduleOverlapPolicy.SKIP;
  try {
    await client.schedule.create({ scheduleId: schedule.scheduleId, spec, action, policies: { overlap } });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule
      .getHandle(schedule.scheduleId)
      .update((previous) => ({ ...previous, spec, action, policies: { ...previous.policies, overlap } }));
  }
}
