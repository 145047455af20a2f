/**
 * Models of how a story source limits one client address, on injected time: each is asked, in arrival order,
 * how it answers a request that reaches it at `atMs`, and says what its limit is at any time (for the share of the
 * limit a client reached). One instance per proxy: the real source limits each address on its own.
 */

export type SourceAnswer = { kind: 'ok' } | { kind: 'rate_limited'; retryAfterMs?: number };

export interface RateSource {
  answer(atMs: number): SourceAnswer;
  /** The most requests per second the source accepts over the long run at this time; Infinity: no limit. */
  limitPerS(atMs: number): number;
}

const OK: SourceAnswer = { kind: 'ok' };

/** A seeded generator, so every run of a scenario is the same. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** N per second with a burst; a 429 carries Retry-After (until a token, rounded up to whole seconds) unless told not to. */
export function tokenBucket(opts: { ratePerS: number; burst: number; retryAfter?: boolean }): RateSource {
  let tokens = opts.burst;
  let at = 0;
  return {
    answer(atMs) {
      tokens = Math.min(opts.burst, tokens + ((atMs - at) / 1000) * opts.ratePerS);
      at = atMs;
      if (tokens >= 1) {
        tokens -= 1;
        return OK;
      }
      if (opts.retryAfter === false) return { kind: 'rate_limited' };
      const waitMs = ((1 - tokens) / opts.ratePerS) * 1000;
      return { kind: 'rate_limited', retryAfterMs: Math.ceil(waitMs / 1000) * 1000 };
    },
    limitPerS: () => opts.ratePerS,
  };
}

/** N per window of T, windows aligned on the clock; a 429 says to come back when the window ends (whole seconds). */
export function fixedWindow(opts: { limit: number; windowMs: number; retryAfter?: boolean }): RateSource {
  let windowStart = 0;
  let count = 0;
  return {
    answer(atMs) {
      const start = Math.floor(atMs / opts.windowMs) * opts.windowMs;
      if (start !== windowStart) {
        windowStart = start;
        count = 0;
      }
      if (count < opts.limit) {
        count += 1;
        return OK;
      }
      if (opts.retryAfter === false) return { kind: 'rate_limited' };
      return { kind: 'rate_limited', retryAfterMs: Math.max(1000, Math.ceil((start + opts.windowMs - atMs) / 1000) * 1000) };
    },
    limitPerS: () => (opts.limit / opts.windowMs) * 1000,
  };
}

/**
 * Several sliding windows at once (N per T each), the way the real source behaves: a request while any window is
 * full is answered 429 without Retry-After, and counts in the windows all the same, so sending during the
 * penalty prolongs it. The penalty lasts until the window clears.
 */
export function slidingWindows(windows: { limit: number; windowMs: number }[]): RateSource {
  const longest = Math.max(...windows.map((w) => w.windowMs));
  let times: number[] = [];
  const countSince = (fromMs: number) => times.filter((t) => t > fromMs).length;
  return {
    answer(atMs) {
      times = times.filter((t) => t > atMs - longest);
      const full = windows.some((w) => countSince(atMs - w.windowMs) >= w.limit);
      times.push(atMs);
      return full ? { kind: 'rate_limited' } : OK;
    },
    limitPerS: () => Math.min(...windows.map((w) => (w.limit / w.windowMs) * 1000)),
  };
}

/** No limit: every request succeeds (the client's in-flight cap and the latency are the only limit). */
export function unlimited(): RateSource {
  return { answer: () => OK, limitPerS: () => Infinity };
}

/**
 * A share of all requests answered 429 whatever the pace, in front of another source (a request it refuses never
 * reaches the limit behind it).
 */
export function randomRateLimits(
  opts: { share: number; retryAfterMs?: number; random: () => number },
  behind: RateSource = unlimited(),
): RateSource {
  return {
    answer(atMs) {
      if (opts.random() < opts.share) {
        return opts.retryAfterMs === undefined ? { kind: 'rate_limited' } : { kind: 'rate_limited', retryAfterMs: opts.retryAfterMs };
      }
      return behind.answer(atMs);
    },
    limitPerS: (atMs) => behind.limitPerS(atMs),
  };
}

/** A limit that changes: from each `fromMs` on, that phase's source answers (each phase keeps its own state). */
export function changingLimit(phases: { fromMs: number; source: RateSource }[]): RateSource {
  const sorted = [...phases].sort((a, b) => a.fromMs - b.fromMs);
  const at = (atMs: number): RateSource => {
    let current = sorted[0];
    for (const p of sorted) if (p.fromMs <= atMs) current = p;
    if (!current) throw new Error('a changing limit needs a phase');
    return current.source;
  };
  return {
    answer: (atMs) => at(atMs).answer(atMs),
    limitPerS: (atMs) => at(atMs).limitPerS(atMs),
  };
}
