/**
 * Starting or waking the singleton queue runner (`batch-queue`): what the API does after a transition, every
 * worker's queue watch when the runner is missing, and a watch's tick after it queued a batch.
 *
 * The workflow is named by its type name rather than imported: an activity calls this, and an activity module
 * must not depend on the workflow code that depends on the activities (workflows import their types).
 */
import type { Client } from '@temporalio/client';
import { QUEUE_WORKFLOW_ID, wakeSignal } from '../../workflows/signals.js';

/** The queue runner's workflow type (workflows/batch-queue.ts, `batchQueueWorkflow`). */
const QUEUE_WORKFLOW_TYPE = 'batchQueueWorkflow';

/** Starts the singleton runner if it is not running (a closed run is replaced) and wakes it. */
export function wakeRunner(temporal: Client, taskQueue: string): Promise<unknown> {
  return temporal.workflow.signalWithStart(QUEUE_WORKFLOW_TYPE, {
    workflowId: QUEUE_WORKFLOW_ID,
    taskQueue,
    args: [{}],
    signal: wakeSignal,
    signalArgs: [],
  });
}
