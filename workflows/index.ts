// Every workflow the worker registers.
export { batchQueueWorkflow, QUEUE_WORKFLOW_ID } from './batch-queue.js';
export { batchWorkflow } from './batch.js';
export { proxyHealthWorkflow, validateSessionWorkflow, PROXY_HEALTH_SCHEDULE_ID } from './proxy-health.js';
export { retentionWorkflow, RETENTION_SCHEDULE_ID } from './retention.js';
export { watchTickWorkflow } from './watch-tick.js';
export { webhookDeliveryWorkflow } from './webhook-delivery.js';
