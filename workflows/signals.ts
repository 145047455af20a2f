import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BatchProgress } from './types.js';

/** The singleton queue runner's workflow id: whoever wakes or signals it finds it by this. */
export const QUEUE_WORKFLOW_ID = 'batch-queue';

/** Wakes the queue runner: a batch was queued, resumed, started, or the queue was resumed. */
export const wakeSignal = defineSignal('wake');

/**
 * Proxies or sessions were added, enabled or recovered. Sent to the queue runner (it need not know which batch
 * runs), which passes it on to its running batch: chunks waiting out a rest (up to the end of the earliest
 * proxy's rest) are sent again at once, so that what came back is used now.
 */
export const poolChangedSignal = defineSignal('poolChanged');

/** Stop taking new chunks; in-flight ones finish and are kept; the run ends as paused. */
export const pauseSignal = defineSignal('pause');
/** As pause, ending as cancelled. */
export const cancelSignal = defineSignal('cancel');
/** A queue-wide hold or release, numbered in commit order (queue_state.version). */
export interface QueuePausedChange {
  paused: boolean;
  version: number;
}

/**
 * The whole queue holds (`paused`) or goes on: no upstream request is sent while held. Two API calls commit
 * in one order but their signals may arrive in the other, so the payload carries the change's version; see
 * `latestQueuePaused`. A bare boolean is what older clients sent (and what old histories replay).
 */
export const queuePausedSignal = defineSignal<[QueuePausedChange | boolean]>('queuePaused');

/**
 * Wraps the queuePaused handler so that it applies a change only when it is newer than every change applied
 * before: delivered out of order, a stale signal is ignored and the workflow keeps the later state. The
 * version seen lives in this closure, so a new run (continue-as-new) starts over and takes the next signal.
 */
export function latestQueuePaused(apply: (paused: boolean) => void): (change: QueuePausedChange | boolean) => void {
  let applied = 0;
  return (change) => {
    if (typeof change === 'boolean') return apply(change);
    if (change.version <= applied) return;
    applied = change.version;
    apply(change.paused);
  };
}

export const progressQuery = defineQuery<BatchProgress>('progress');
