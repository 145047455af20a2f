/**
 * Every line logged while an activity runs (by the pool, the story client, the checker, ...) carries the
 * activity's batch and its Temporal identity, so one chunk's lines can be found among all of a worker's:
 * an activity inbound interceptor runs the activity inside a log context (src/logger.ts `withLogContext`).
 */
import type { Context } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { withLogContext } from '../logger.js';

/** The correlation fields of one activity execution (`batch_id` when its input names a batch). */
export function activityLogFields(ctx: Context, args: readonly unknown[]): Record<string, unknown> {
  const { info } = ctx;
  const input = args[0];
  const batchId = typeof input === 'object' && input !== null ? (input as { batchId?: unknown }).batchId : undefined;
  return {
    ...(typeof batchId === 'string' ? { batch_id: batchId } : {}),
    workflow_id: info.workflowExecution?.workflowId,
    run_id: info.workflowExecution?.runId,
    activity_id: info.activityId,
    activity_type: info.activityType,
    attempt: info.attempt,
  };
}

export const activityLogContext: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    execute: (input, next) => withLogContext(activityLogFields(ctx, input.args), () => next(input)),
  },
});
