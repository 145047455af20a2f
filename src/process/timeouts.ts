/**
 * One bound on how long a promise may take, for probes, start-up waits, stop steps and benchmark scenarios.
 */

export class TimeLimitExceeded extends Error {
  override name = 'TimeLimitExceeded';
}

/**
 * Settles with `work`, or rejects with TimeLimitExceeded once `ms` have passed (`message` says what did not
 * finish). The work itself is left to finish on its own, and the timer never keeps the process alive.
 */
export async function withTimeout<T>(work: Promise<T>, ms: number, message = `no answer within ${ms} ms`): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeLimitExceeded(message)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `work` settled (fulfilled or not) within `ms`. */
export function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  return withTimeout(
    work.then(
      () => true,
      () => true,
    ),
    ms,
  ).catch(() => false);
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects: the caller looks at the signal itself). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
