/**
 * One chunk checked inside its activity: the activity's cancellation, heartbeat and timeout handed to the
 * checker, and a wait the checker asks for turned into the retry Temporal schedules.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';
import type { Checker, CheckChunkInput } from '../src/check/checker.js';
import { EXPECTED_WAITS, RetryLater } from '../src/check/checker.js';
import { timeChunk } from '../src/metrics/worker.js';

export async function checkChunkInActivity(checker: Checker, input: Omit<CheckChunkInput, 'holder'>) {
  const ctx = Context.current();
  const { workflowExecution, activityId, attempt } = ctx.info;
  // The batch stopping cancels its chunks: one waiting for a retry ends at once, and a running one is left
  // to reach its next check of the stored status, so a request already answered is still persisted.
  // A timeout or a worker shutdown aborts the requests in flight.
  const abort = new AbortController();
  const onCancel = () => {
    const reason: unknown = ctx.cancellationSignal.reason;
    if (!(reason instanceof Error && reason.message === 'CANCELLED')) abort.abort(reason);
  };
  if (ctx.cancellationSignal.aborted) onCancel();
  else ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
  try {
    return await timeChunk(
      () =>
        checker.checkChunk(
          { ...input, holder: `${workflowExecution?.workflowId ?? 'activity'}/${activityId}#${attempt}` },
          {
            signal: abort.signal,
            heartbeat: () => ctx.heartbeat(),
            ...(ctx.info.startToCloseTimeoutMs ? { deadline: performance.now() + ctx.info.startToCloseTimeoutMs } : {}),
          },
        ),
      (err) => (err instanceof RetryLater ? 'retry' : 'error'),
    );
  } catch (err) {
    if (err instanceof RetryLater) {
      throw ApplicationFailure.create({
        type: err.reason,
        message: err.message,
        nonRetryable: false,
        // the checker knows the wait (a proxy's rest, the profiles' own backoff): it replaces the policy's
        nextRetryDelay: Math.max(err.delayMs, 10),
        // waiting for a proxy or for a rate limit to pass (EXPECTED_WAITS) is the pool working as meant, not a fault: the
        // SDK logs a benign failure at debug and leaves it out of its failure metrics
        ...(EXPECTED_WAITS.has(err.reason) ? { category: ApplicationFailureCategory.BENIGN } : {}),
      });
    }
    throw err;
  } finally {
    ctx.cancellationSignal.removeEventListener('abort', onCancel);
  }
}
