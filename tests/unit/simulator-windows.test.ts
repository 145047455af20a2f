// The simulator's request windows per client address, on their own: sliding and fixed, several at once, the
// refused requests counted, lower limits logged out, and the time scale.
import { describe, expect, it } from 'vitest';
import { sustainedIntervalMs, WindowLimiter, type LimitWindow, type WindowSettings } from '../../src/simulator/windows.js';

const S = 1_000;
const sliding = (requests: number, windowMs: number): LimitWindow => ({ requests, windowMs, kind: 'sliding' });
const fixed = (requests: number, windowMs: number): LimitWindow => ({ requests, windowMs, kind: 'fixed' });
const only = (windows: LimitWindow[], extra: Partial<WindowSettings> = {}): WindowSettings => ({
  windows,
  loggedOutWindows: null,
  timeScale: 1,
  ...extra,
});

/** Sends from one address at each time, and says which were allowed. */
function allowedAt(limiter: WindowLimiter, settings: WindowSettings, times: number[], address = '10.0.0.1'): boolean[] {
  return times.map((t) => !limiter.take(address, t, settings).limited);
}

describe('WindowLimiter', () => {
  it('allows everything without windows', () => {
    const limiter = new WindowLimiter();
    expect(allowedAt(limiter, only([]), Array.from({ length: 1_000 }, () => 0)).every(Boolean)).toBe(true);
  });

  it('refuses a sliding window once full, and says when the oldest request leaves it', () => {
    const limiter = new WindowLimiter();
    const settings = only([sliding(3, 10 * S)]);
    expect(allowedAt(limiter, settings, [0, 1 * S, 2 * S])).toEqual([true, true, true]);
    // the refused request counts: the window holds 1 s, 2 s and 3 s, so it frees up when the 1 s one leaves
    expect(limiter.take('10.0.0.1', 3 * S, settings)).toEqual({ limited: true, waitS: 8 });
    expect(limiter.take('10.0.0.1', 11 * S, settings)).toEqual({ limited: false });
  });

  it('keeps an address that sends while limited limited, until it stops for a whole window', () => {
    const limiter = new WindowLimiter();
    const settings = only([sliding(3, 10 * S)]);
    allowedAt(limiter, settings, [0, 0, 0]);
    // without counting refusals, 10 s would be free again; one request a second keeps the window full
    const hammering = Array.from({ length: 60 }, (_, i) => (i + 1) * S);
    expect(allowedAt(limiter, settings, hammering).some(Boolean)).toBe(false);
    // the window now holds 59 s, 60 s and 61 s: free again when the 59 s one leaves it
    expect(limiter.take('10.0.0.1', 61 * S, settings)).toEqual({ limited: true, waitS: 8 });
    expect(limiter.take('10.0.0.1', 69 * S - 1, settings).limited).toBe(true);
    expect(limiter.take('10.0.0.1', 70 * S, settings)).toEqual({ limited: false });
  });

  it('counts a fixed window from its period start: refusals do not carry into the next period', () => {
    const limiter = new WindowLimiter();
    const settings = only([fixed(5, 1 * S)]);
    expect(allowedAt(limiter, settings, [0, 100, 200, 300, 400])).toEqual([true, true, true, true, true]);
    expect(limiter.take('10.0.0.1', 500, settings)).toEqual({ limited: true, waitS: 0.5 });
    expect(allowedAt(limiter, settings, [600, 700, 999])).toEqual([false, false, false]);
    expect(allowedAt(limiter, settings, [1_000, 1_001])).toEqual([true, true]);
  });

  it('differs between sliding and fixed at a period boundary', () => {
    const times = [7 * S, 8 * S, 9 * S, 10 * S];
    expect(allowedAt(new WindowLimiter(), only([fixed(3, 10 * S)]), times)).toEqual([true, true, true, true]);
    expect(allowedAt(new WindowLimiter(), only([sliding(3, 10 * S)]), times)).toEqual([true, true, true, false]);
  });

  it('enforces several windows at once, and waits for the longest one the request fills', () => {
    const settings = only([sliding(2, 1 * S), sliding(3, 10 * S)]);
    const short = new WindowLimiter();
    // two within a second: the short window refuses the third; it also fills the long one
    expect(allowedAt(short, settings, [0, 100])).toEqual([true, true]);
    expect(short.take('10.0.0.1', 200, settings)).toEqual({ limited: true, waitS: 9.8 });

    const long = new WindowLimiter();
    // one a second suits the short window, but the long one allows three per 10 s
    expect(allowedAt(long, settings, [0, 1 * S, 2 * S])).toEqual([true, true, true]);
    expect(long.take('10.0.0.1', 3 * S, settings)).toEqual({ limited: true, waitS: 8 });
  });

  it('limits each address on its own', () => {
    const limiter = new WindowLimiter();
    const settings = only([sliding(1, 10 * S)]);
    expect(allowedAt(limiter, settings, [0, 1], '10.0.0.1')).toEqual([true, false]);
    expect(allowedAt(limiter, settings, [2], '10.0.0.2')).toEqual([true]);
    limiter.clear();
    expect(allowedAt(limiter, settings, [3], '10.0.0.1')).toEqual([true]);
  });

  it('applies lower limits to logged-out requests, counted with the address\'s other requests', () => {
    const limiter = new WindowLimiter();
    const settings = only([sliding(3, 10 * S)], { loggedOutWindows: [sliding(1, 10 * S)] });
    expect(limiter.take('10.0.0.1', 0, settings, true)).toEqual({ limited: false });
    expect(limiter.take('10.0.0.1', 1 * S, settings, true).limited).toBe(true);
    // with a session, the address has sent two: one more is allowed, then the session's window is full
    expect(limiter.take('10.0.0.1', 2 * S, settings, false)).toEqual({ limited: false });
    expect(limiter.take('10.0.0.1', 3 * S, settings, false).limited).toBe(true);
  });

  it('divides window lengths by the time scale: an 11-minute window lasts 11 s at 60', () => {
    const windows = [sliding(20, 11 * 60 * S)];
    const times = Array.from({ length: 21 }, (_, i) => i * 100);
    const scaled = new WindowLimiter();
    const verdicts = times.map((t) => scaled.take('10.0.0.1', t, only(windows, { timeScale: 60 })));
    expect(verdicts.slice(0, 20).every((v) => !v.limited)).toBe(true);
    // the window of the refused request at 2 s starts with the one sent at 0.1 s: free at 11.1 s
    expect(verdicts[20]).toEqual({ limited: true, waitS: 9.1 });
    expect(scaled.take('10.0.0.1', 11_100, only(windows, { timeScale: 60 }))).toEqual({ limited: false });

    const real = new WindowLimiter();
    const last = times.map((t) => real.take('10.0.0.1', t, only(windows))).at(-1);
    expect(last).toEqual({ limited: true, waitS: 658.1 });
  });

  it('tells the sustained pace that never trips the windows', () => {
    expect(sustainedIntervalMs([], 1)).toBe(0);
    expect(sustainedIntervalMs([sliding(20, 11 * 60 * S), sliding(200, 3_600 * S)], 1)).toBe(33 * S);
    expect(sustainedIntervalMs([sliding(20, 11 * 60 * S), sliding(200, 3_600 * S)], 60)).toBe(550);
  });
});
