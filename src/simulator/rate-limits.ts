/**
 * Every reason the source refuses a request for its pace: the request windows (the real source's limits), a
 * share refused at random whatever the pace, and the token bucket (the friendly limit). How the refusal is
 * answered (status, body, Retry-After) is the same for all three, as settings say.
 */
import type { Context } from 'hono';
import type { SimEnv } from './malformed.js';
import { RateLimiter } from './rate-limiter.js';
import type { SimulatorSettings } from './settings.js';
import { WindowLimiter } from './windows.js';

export type RateLimitCause = 'window' | 'random' | 'bucket';

export interface RateLimitVerdict {
  cause: RateLimitCause;
  /** Seconds until the address would be allowed again (1 for a random refusal). */
  waitS: number;
}

const PLEASE_WAIT = { message: 'Please wait a few minutes before you try again.', status: 'fail' } as const;

export class RateLimits {
  readonly #bucket = new RateLimiter();
  readonly #windows = new WindowLimiter();

  /**
   * Whether a request is refused, or null when it may go on. The windows record every request, refused or
   * not; a request refused at random takes no token from the bucket.
   */
  check(address: string, loggedOut: boolean, settings: SimulatorSettings, nowMs: number, chance: (share: number) => boolean): RateLimitVerdict | null {
    const windowed = this.#windows.take(address, nowMs, settings, loggedOut);
    if (windowed.limited) return { cause: 'window', waitS: windowed.waitS };
    if (chance(settings.rateLimitShare)) return { cause: 'random', waitS: 1 };
    const waitS = this.#bucket.take(address, settings, nowMs);
    return waitS === null ? null : { cause: 'bucket', waitS };
  }

  /** Refills every bucket (the bucket's size or rate changed). */
  clearBuckets(): void {
    this.#bucket.clear();
  }

  clear(): void {
    this.#bucket.clear();
    this.#windows.clear();
  }
}

export function rateLimitedAnswer(c: Context<SimEnv>, settings: SimulatorSettings, verdict: RateLimitVerdict): Response {
  const { retryAfter } = settings;
  const seconds = retryAfter === false ? null : retryAfter === true ? Math.max(1, Math.ceil(verdict.waitS)) : retryAfter;
  const headers: Record<string, string> = seconds === null ? {} : { 'Retry-After': String(seconds) };
  switch (settings.rateLimitStyle) {
    case '429':
      return c.json({ message: 'Too many requests', status: 'fail' }, 429, headers);
    case '429-wait':
      return c.json(PLEASE_WAIT, 429, headers);
    case 'body':
      return c.json(PLEASE_WAIT, 400, headers);
  }
}
