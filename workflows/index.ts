// Every workflow the worker registers.
export { batchQueueWorkflow, QUEUE_WORKFLOW_ID } from './batch-queue.js';
export { batchWorkflow } from './batch.js';
