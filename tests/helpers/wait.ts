export interface WaitOptions {
  timeoutMs?: number;
  stepMs?: number;
  /** What is awaited, for the failure message (a function to describe the state at the time of failure). */
  what?: string | (() => string);
}

/**
 * Polls `probe` until it gives a truthy value, which is returned; fails after the timeout (60 s unless given,
 * as a number or in options).
 */
export async function waitFor<T>(
  probe: () => Promise<T | false | null | undefined>,
  timeoutOrOptions: number | WaitOptions = {},
  stepMs?: number,
): Promise<T> {
  const options = typeof timeoutOrOptions === 'number' ? { timeoutMs: timeoutOrOptions, stepMs } : timeoutOrOptions;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const step = options.stepMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) {
      const what = typeof options.what === 'function' ? options.what() : options.what;
      throw new Error(`${what ?? 'condition'} not met within ${timeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, step));
  }
}
