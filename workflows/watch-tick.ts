/**
 * `watchTickWorkflow`: what a watch's Schedule (`watch-<id>`, src/watches/schedule.ts) starts at each tick. One
 * activity creates and queues the tick's batch, or records why it skipped (src/repos/watch-ticks.ts); the
 * workflow adds the schedule's durability, retries and visibility: each tick is a run in the Web UI, its result
 * saying what it did.
 *
 * The tick's time is the Schedule's scheduled time, the same on every retry of the tick's run, which makes the
 * tick idempotent: a retried activity or run finds the batch it created. It is read from the
 * `TemporalScheduledStartTime` search attribute the Schedule sets; else from the time the Schedule appends to
 * the workflow id (`watch-<id>-2026-01-01T00:00:00Z`); else, for a run started by other means, its chain's start.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { WatchTickReport } from '../activities/watch-tick.js';
import type { createActivities } from '../activities/index.js';
import { roundTimeoutMs } from './round-timeout.js';

type Activities = ReturnType<typeof createActivities>;

export interface WatchTickWorkflowInput {
  watchId: string;
}

/** Set by Temporal on every run a Schedule starts: the time the run was scheduled for. */
export const ScheduledStartTimeAttribute = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/** A tick creating a batch of 100,000 profiles writes for seconds; a tick is worth nothing once the next is due. */
const TICK_TIMEOUT_MS = 5 * 60_000;

/** The time a Schedule appends to the workflow ids of its runs (RFC 3339, UTC). */
const SCHEDULED_TIME_SUFFIX = /-(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)$/;

/** The tick's scheduled time (see the top of this file). */
export function tickTime(): Date {
  const info = workflowInfo();
  const attribute = info.typedSearchAttributes.get(ScheduledStartTimeAttribute);
  if (attribute) return attribute;
  const suffix = SCHEDULED_TIME_SUFFIX.exec(info.workflowId)?.[1];
  const fromId = suffix ? new Date(suffix) : null;
  return fromId && !Number.isNaN(fromId.getTime()) ? fromId : info.startTime;
}

export async function watchTickWorkflow(input: WatchTickWorkflowInput): Promise<WatchTickReport> {
  const { createWatchBatch } = proxyActivities<Activities>({
    startToCloseTimeout: roundTimeoutMs(TICK_TIMEOUT_MS),
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
  });
  return createWatchBatch({ watchId: input.watchId, scheduledAt: tickTime().toISOString() });
}
