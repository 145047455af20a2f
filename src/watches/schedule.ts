/**
 * The Temporal Schedule `watch-<id>` of a watch, made from its row: the spec (every `every_s` seconds, or the
 * cron expression in the watch's time zone, plus jitter), the action (start `watchTickWorkflow` with the watch's
 * id; the Schedule appends the scheduled time to the workflow id), overlap SKIP (a tick is skipped while the
 * previous tick's workflow still runs), a catch-up window of one interval (a tick missed while Temporal was down
 * runs late only that much; no backfill), and paused as the row says. Operators see it on the Web UI's Schedules
 * page, with its recent and upcoming runs.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import { watchTickWorkflow } from '../../workflows/watch-tick.js';
import type { WatchRow } from '../repos/watches.js';
import { catchupWindowMs } from '../repos/watch-cadence.js';

export const WATCH_SCHEDULE_PREFIX = 'watch-';

export const watchScheduleId = (watchId: string) => `${WATCH_SCHEDULE_PREFIX}${watchId}`;

/** The watch id of a Schedule id, or null when the Schedule is not a watch's. */
export function watchIdOfSchedule(scheduleId: string): string | null {
  return scheduleId.startsWith(WATCH_SCHEDULE_PREFIX) ? scheduleId.slice(WATCH_SCHEDULE_PREFIX.length) : null;
}

/** The fields of a watch that its Schedule is made from. */
export type ScheduledWatch = Pick<WatchRow, 'id' | 'name' | 'every_s' | 'cron' | 'timezone' | 'jitter_s' | 'paused'>;

/** The part of the Schedule that follows the row (what an update replaces). */
function scheduleParts(watch: ScheduledWatch, taskQueue: string) {
  const interval = catchupWindowMs(watch);
  return {
    spec: {
      ...(watch.every_s !== null ? { intervals: [{ every: watch.every_s * 1000 }] } : { cronExpressions: [watch.cron!] }),
      timezone: watch.timezone,
      jitter: watch.jitter_s * 1000,
    },
    action: {
      type: 'startWorkflow' as const,
      workflowType: watchTickWorkflow,
      args: [{ watchId: watch.id }] as [{ watchId: string }],
      taskQueue,
      workflowId: watchScheduleId(watch.id),
      // a tick that cannot create its batch within one interval is worth nothing: the next one comes
      workflowExecutionTimeout: Math.max(60_000, interval),
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: interval },
    state: { paused: watch.paused, note: watch.paused ? 'paused through the API' : `watch "${watch.name}"` },
  };
}

export function watchScheduleOptions(watch: ScheduledWatch, taskQueue: string): ScheduleOptions {
  return { scheduleId: watchScheduleId(watch.id), ...scheduleParts(watch, taskQueue) };
}

/** Creates the Schedule; one that exists already is updated to the row instead. */
export async function createWatchSchedule(client: Client, watch: ScheduledWatch, taskQueue: string): Promise<void> {
  try {
    await client.schedule.create(watchScheduleOptions(watch, taskQueue));
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await updateWatchSchedule(client, watch, taskQueue);
  }
}

/** Makes the Schedule what the row says (spec, action, policies, paused); throws ScheduleNotFoundError when there is none. */
export async function updateWatchSchedule(client: Client, watch: ScheduledWatch, taskQueue: string): Promise<void> {
  const parts = scheduleParts(watch, taskQueue);
  await client.schedule.getHandle(watchScheduleId(watch.id)).update((previous) => ({
    ...previous,
    spec: parts.spec,
    action: parts.action,
    policies: { ...previous.policies, ...parts.policies },
    state: { ...previous.state, paused: parts.state.paused, note: parts.state.note },
  }));
}

/** Makes the Schedule what the row says, creating it when it is missing. */
export async function syncWatchSchedule(client: Client, watch: ScheduledWatch, taskQueue: string): Promise<void> {
  try {
    await updateWatchSchedule(client, watch, taskQueue);
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    await createWatchSchedule(client, watch, taskQueue);
  }
}

/** A tick now, through the Schedule: overlap SKIP as for its own ticks. */
export async function triggerWatchSchedule(client: Client, watchId: string): Promise<void> {
  await client.schedule.getHandle(watchScheduleId(watchId)).trigger(ScheduleOverlapPolicy.SKIP);
}

/** Deletes the Schedule; one that is already gone is fine. */
export async function deleteWatchSchedule(client: Client, watchId: string): Promise<void> {
  try {
    await client.schedule.getHandle(watchScheduleId(watchId)).delete();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
}

/** What the API shows of the Schedule: its next runs and its recent actions. */
export interface WatchScheduleView {
  nextRuns: Date[];
  recentActions: Array<{ scheduledAt: Date; takenAt: Date; workflowId: string }>;
}

/** The Schedule's description; null when it does not exist. */
export async function describeWatchSchedule(client: Client, watchId: string, nextRuns = 5): Promise<WatchScheduleView | null> {
  try {
    const description = await client.schedule.getHandle(watchScheduleId(watchId)).describe();
    return {
      nextRuns: description.info.nextActionTimes.slice(0, nextRuns),
      recentActions: description.info.recentActions.map((a) => ({
        scheduledAt: a.scheduledAt,
        takenAt: a.takenAt,
        workflowId: a.action.workflow.workflowId,
      })),
    };
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return null;
    throw err;
  }
}
