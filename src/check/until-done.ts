/**
 * A chunk checked to the end without Temporal (the benchmark's plain loop, the pacing tests): `checkChunk`
 * again after each RetryLater once its delay has passed, as the activity's retry policy would.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RetryLater, type CheckChunkResult, type Checker } from './checker.js';

export interface CheckUntilDoneOptions {
  /** The lease holder of each attempt (1, 2, ...). */
  holder: (attempt: number) => string;
  /** The wait after a RetryLater that names no delay. */
  backoffMs: (attempt: number) => number;
  /** How many RetryLater to wait out before the next one is thrown (default: no bound). */
  retries?: number;
  /** Stops the attempts and the waits; the chunk then rejects with the abort's reason. */
  signal?: AbortSignal;
  /** Told of every RetryLater waited out. */
  onRetryLater?: (err: RetryLater) => void;
}

export async function checkChunkUntilDone(
  checker: Checker,
  chunk: { batchId: string; profileIds: string[] },
  options: CheckUntilDoneOptions,
): Promise<CheckChunkResult> {
  const { signal } = options;
  for (let attempt = 1; !signal?.aborted; attempt++) {
    try {
      return await checker.checkChunk({ ...chunk, holder: options.holder(attempt) }, signal ? { signal } : {});
    } catch (err) {
      if (!(err instanceof RetryLater) || attempt > (options.retries ?? Infinity)) throw err;
      options.onRetryLater?.(err);
      await sleep(err.delayMs ?? options.backoffMs(attempt), undefined, signal ? { signal } : {}).catch(() => {});
    }
  }
  throw signal.reason ?? new Error('aborted');
}
