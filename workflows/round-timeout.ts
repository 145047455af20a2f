/**
 * The activity timeout of a round a schedule starts: below the run's own execution timeout (the schedule sets
 * one, so that a round never outlives the next), which would otherwise cut the round off before its activity
 * has reported anything. Workflow-safe.
 */
import { workflowInfo } from '@temporalio/workflow';

export function roundTimeoutMs(longestMs: number): number {
  const { executionTimeoutMs } = workflowInfo();
  return executionTimeoutMs ? Math.min(longestMs, Math.floor(executionTimeoutMs * 0.9)) : longestMs;
}
