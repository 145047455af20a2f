/**
 * Every line logged while an activity runs (by the pool, the story client, the checker, ...) carries the
 * activity's batch and its Temporal identity, so one chunk's lines can be found among all of a worker's:
 * an activity inbound interceptor runs the activity inside a log context (src/logging/logger.ts `withLogContext`), and
 * the SDK's own lines about the activity get the batch through its log attributes.
 */
import type { Context } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { withLogContext } from '../logging/logger.js';

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

export const activityLogContext: ActivityInterceptorsFactory = (ctx) => {
  let batchId: unknown;
  return {
    inbound: {
      execute(input, next) {
        const fields = activityLogFields(ctx, input.args);
        batchId = fields.batch_id;
        return withLogContext(fields, () => next(input));
      },
    },
    // the SDK's own lines about the activity ('Activity failed', ...) name the batch too
    outbound: {
      getLogAttributes: (input, next) => (batchId === undefined ? next(input) : { ...next(input), batch_id: batchId }),
    },
  };
};
