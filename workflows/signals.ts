import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BatchProgress } from './types.js';

/** Wakes the queue runner: a batch was queued, resumed, started, or the queue was resumed. */
export const wakeSignal = defineSignal('wake');

/** Stop taking new chunks; in-flight ones finish and are kept; the run ends as paused. */
export const pauseSignal = defineSignal('pause');
/** As pause, ending as cancelled. */
export const cancelSignal = defineSignal('cancel');
/** The whole queue holds (true) or goes on (false): no upstream request is sent while held. */
export const queuePausedSignal = defineSignal<[boolean]>('queuePaused');

export const progressQuery = defineQuery<BatchProgress>('progress');
