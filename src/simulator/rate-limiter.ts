import type { SimulatorSettings } from './settings.js';

/** Per-address token buckets: `burst` tokens, refilled at `ratePerSecond`. */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  /** Takes a token; returns null when allowed, else the seconds until a token is back. */
  take(address: string, settings: SimulatorSettings, nowMs: number): number | null {
    const { ratePerSecond } = settings;
    if (ratePerSecond <= 0) return null;
    const burst = settings.burst ?? Math.max(1, Math.ceil(ratePerSecond));
    const bucket = this.#buckets.get(address) ?? { tokens: burst, at: nowMs };
    bucket.tokens = Math.min(burst, bucket.tokens + ((nowMs - bucket.at) / 1000) * ratePerSecond);
    bucket.at = nowMs;
    this.#buckets.set(address, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return null;
    }
    return (1 - bucket.tokens) / ratePerSecond;
  }

  clear(): void {
    this.#buckets.clear();
  }
}
