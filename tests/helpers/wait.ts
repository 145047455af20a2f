/** Polls `probe` until it gives a truthy value, which is returned; fails after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T | false | null | undefined>, timeoutMs = 60_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
