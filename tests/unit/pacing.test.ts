import { afterAll, describe, expect, it } from 'vitest';
import {
  learnedRatePerS,
  newPacingState,
  observe,
  sendIntervalMs,
  type PacingSettings,
  type PacingState,
} from '../../src/pool/pacing.js';
import { drive, measure, physicalPerS, type DriveResult } from '../helpers/pacing-driver.js';
import {
  changingLimit,
  fixedWindow,
  randomRateLimits,
  seededRandom,
  slidingWindows,
  tokenBucket,
  unlimited,
  type RateSource,
} from '../helpers/rate-sources.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

const settings: PacingSettings = { minIntervalMs: 0, cooldownMs: 60 * SECOND, maxRestMs: 24 * HOUR, maxInFlight: 4 };
const latencyMs = { min: 50, max: 300 };

/** Figures of every scenario, printed once at the end so they can be quoted. */
const figures: { scenario: string; reached: string; share429: string; other?: string }[] = [];
afterAll(() => {
  console.log(
    ['scenario | share of the limit | 429s | other', '---|---|---|---']
      .concat(figures.map((f) => `${f.scenario} | ${f.reached} | ${f.share429} | ${f.other ?? ''}`))
      .join('\n'),
  );
});

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Runs one proxy against a source and measures, after a warm-up, the share of its limit reached and of 429s. */
function steadyRun(scenario: string, source: RateSource, opts: { durationMs: number; warmUpMs: number; seed: number; pacing?: PacingSettings }) {
  const pacing = opts.pacing ?? settings;
  const run = drive({ sources: [source], settings: pacing, latencyMs, durationMs: opts.durationMs, random: seededRandom(opts.seed) });
  const m = measure(run, opts.warmUpMs, opts.durationMs);
  const limit = Math.min(source.limitPerS(opts.warmUpMs), physicalPerS(pacing, latencyMs));
  const reached = m.okPerS / limit;
  figures.push({ scenario, reached: reached.toFixed(2), share429: pct(m.share429), other: `${m.answers} answers, learned ${rateOf(run)}` });
  return { reached, share429: m.share429, run };
}

function rateOf(run: DriveResult): string {
  const r = run.states[0] ? learnedRatePerS(run.states[0]) : null;
  return r === null ? 'none' : `${r.toFixed(3)}/s`;
}

describe('pacing against rate limits (simulated time)', () => {
  it.each([
    ['a token bucket of 10/s (burst 10)', 'token bucket 10/s, burst 10', tokenBucket({ ratePerS: 10, burst: 10 }), 1],
    ['a fixed window of 5 per second', 'fixed window 5 per 1 s', fixedWindow({ limit: 5, windowMs: SECOND }), 2],
  ] as const)('keeps just under %s', (_limit, scenario, source, seed) => {
    const r = steadyRun(scenario, source, { durationMs: HOUR, warmUpMs: 5 * MINUTE, seed });
    expect(r.reached).toBeGreaterThanOrEqual(0.85);
    expect(r.share429).toBeLessThanOrEqual(0.02);
  });

  it('finds sliding windows of 20 per 11 min and 200 per hour whose 429s last until the window clears', () => {
    const source = slidingWindows([
      { limit: 20, windowMs: 11 * MINUTE },
      { limit: 200, windowMs: HOUR },
    ]);
    const r = steadyRun('sliding 20/11 min + 200/h, no Retry-After', source, { durationMs: 12 * HOUR, warmUpMs: 2 * HOUR, seed: 3 });
    expect(r.reached).toBeGreaterThanOrEqual(0.8);
    expect(r.share429).toBeLessThanOrEqual(0.02);
  });

  it('keeps a slow source of one request per 20 s busy (token bucket, 429 without Retry-After)', () => {
    const r = steadyRun('bucket 1 per 20 s, no Retry-After', tokenBucket({ ratePerS: 1 / 20, burst: 1, retryAfter: false }), {
      durationMs: 12 * HOUR,
      warmUpMs: 2 * HOUR,
      seed: 4,
    });
    expect(r.reached).toBeGreaterThanOrEqual(0.9);
  });

  it('keeps a slow source of one request per 20 s busy (sliding window of 3 per minute)', () => {
    const r = steadyRun('sliding 3 per 60 s, no Retry-After', slidingWindows([{ limit: 3, windowMs: MINUTE }]), {
      durationMs: 12 * HOUR,
      warmUpMs: 2 * HOUR,
      seed: 5,
    });
    expect(r.reached).toBeGreaterThanOrEqual(0.9);
  });

  it('is not slowed down by 30% random 429s on top of a token bucket', () => {
    const random = seededRandom(60);
    const source = randomRateLimits({ share: 0.3, retryAfterMs: SECOND, random }, tokenBucket({ ratePerS: 10, burst: 10 }));
    const r = steadyRun('30% random 429s + token bucket 10/s', source, { durationMs: HOUR, warmUpMs: 5 * MINUTE, seed: 6 });
    expect(r.reached).toBeGreaterThanOrEqual(0.6);
  });

  it('gets through a storm of 30% random 429s (Retry-After: 1) on 3 proxies within 4x the time the proxies allow', () => {
    const ratio = stormRatio('storm: 30% random 429s (Retry-After 1), 3 proxies, 1,200 requests', SECOND, 70);
    expect(ratio).toBeLessThanOrEqual(4);
  });

  it('gets through a storm of 30% random 429s without Retry-After on 3 proxies within 4x the time the proxies allow', () => {
    const ratio = stormRatio('storm: 30% random 429s (no Retry-After), 3 proxies, 1,200 requests', undefined, 71);
    expect(ratio).toBeLessThanOrEqual(4);
  });

  it('follows a limit that halves, doubles, then is lifted, within 2 minutes of each change', () => {
    const phases = [
      { fromMs: 0, ratePerS: 10 },
      { fromMs: 15 * MINUTE, ratePerS: 5 },
      { fromMs: 30 * MINUTE, ratePerS: 10 },
      { fromMs: 45 * MINUTE, ratePerS: Infinity },
    ];
    const source = changingLimit(
      phases.map((p) => ({
        fromMs: p.fromMs,
        source: Number.isFinite(p.ratePerS) ? tokenBucket({ ratePerS: p.ratePerS, burst: p.ratePerS }) : unlimited(),
      })),
    );
    const run = drive({ sources: [source], settings, latencyMs, durationMs: HOUR, random: seededRandom(8) });
    for (const p of phases.slice(1)) {
      const limit = Math.min(p.ratePerS, physicalPerS(settings, latencyMs));
      const after = measure(run, p.fromMs + 2 * MINUTE, p.fromMs + 5 * MINUTE);
      const reached = after.okPerS / limit;
      figures.push({
        scenario: `limit ${Number.isFinite(p.ratePerS) ? `${p.ratePerS}/s` : 'lifted'} at ${p.fromMs / MINUTE} min (2-5 min after)`,
        reached: reached.toFixed(2),
        share429: pct(after.share429),
        other: `first 10 s at >= 0.8 after ${secondsToReach(run, p.fromMs, 0.8 * limit)}`,
      });
      expect(reached).toBeGreaterThanOrEqual(0.8);
    }
  });
});

/** Runs 1,200 requests through 3 proxies against random 429s only; the time taken over the time the proxies allow. */
function stormRatio(scenario: string, retryAfterMs: number | undefined, seed: number): number {
  const random = seededRandom(seed);
  const stormLatency = { min: 300, max: 500 }; // 4 in flight at 400 ms: 10/s per proxy
  const sources = [0, 1, 2].map(() => randomRateLimits({ share: 0.3, random, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) }));
  const run = drive({ sources, settings, latencyMs: stormLatency, durationMs: HOUR, requests: 1200, random: seededRandom(7) });
  const physicalMs = (1200 / (3 * physicalPerS(settings, stormLatency))) * 1000;
  const ratio = run.endMs / physicalMs;
  figures.push({
    scenario,
    reached: `${(run.endMs / 1000).toFixed(0)} s for ${(physicalMs / 1000).toFixed(0)} s possible (${ratio.toFixed(2)}x)`,
    share429: pct(measure(run, 0, run.endMs + 1).share429),
  });
  return ratio;
}

/** Seconds after `fromMs` until a 10 s stretch first carried `okPerS` or more. */
function secondsToReach(run: DriveResult, fromMs: number, okPerS: number): string {
  for (let t = fromMs; t < fromMs + 10 * MINUTE; t += SECOND) {
    if (measure(run, t, t + 10 * SECOND).okPerS >= okPerS) return `${(t - fromMs) / SECOND} s`;
  }
  return 'never (10 min)';
}

describe('pacing rules', () => {
  const step = (state: PacingState, event: Parameters<typeof observe>[1], nowMs: number) => observe(state, event, nowMs, settings);

  it('sends as fast as the in-flight cap allows until something is learned, the floor aside', () => {
    const fresh = newPacingState();
    expect(sendIntervalMs(fresh, settings)).toBe(0);
    expect(learnedRatePerS(fresh)).toBeNull();
    expect(sendIntervalMs(fresh, { ...settings, minIntervalMs: 250 })).toBe(250);
  });

  it('rests cooldownMs after a 429 without Retry-After, twice as long when the first send after it is refused again', () => {
    let s = newPacingState();
    for (let i = 0; i < 5; i++) s = step(s, { kind: 'success', sentAtMs: i * 100 }, i * 100 + 50).state;
    const first = step(s, { kind: 'rate_limited', sentAtMs: 500 }, 600);
    expect(first.restUntilMs).toBe(600 + 60 * SECOND);
    const again = step(first.state, { kind: 'rate_limited', sentAtMs: 600 + 60 * SECOND }, 700 + 60 * SECOND);
    expect(again.restUntilMs).toBe(700 + 60 * SECOND + 120 * SECOND);
    const third = step(again.state, { kind: 'rate_limited', sentAtMs: 700 + 180 * SECOND }, 800 + 180 * SECOND);
    expect(third.restUntilMs).toBe(800 + 180 * SECOND + 240 * SECOND);
  });

  it('rests at most an interval for a refusal among successes once 429s were seen, and the cooldown once refusals in a row outrun random ones', () => {
    // one request at a time, answered 50 ms after it left, sent as the pacing allows; every fifth refused
    let s = newPacingState();
    let nextSendMs = 0;
    const send = (refused: boolean) => {
      const sentAtMs = nextSendMs;
      const answeredAtMs = sentAtMs + 50;
      const d = step(s, refused ? { kind: 'rate_limited', sentAtMs } : { kind: 'success', sentAtMs }, answeredAtMs);
      s = d.state;
      nextSendMs = Math.max(answeredAtMs, d.restUntilMs ?? 0, sentAtMs + sendIntervalMs(s, settings));
      return { restMs: d.restUntilMs === null ? 0 : d.restUntilMs - answeredAtMs, intervalMs: sendIntervalMs(s, settings) };
    };
    for (let i = 0; i < 10; i++) send(false);
    for (let i = 0; i < 100; i++) {
      const { restMs, intervalMs } = send(i % 5 === 4);
      expect(restMs).toBeLessThanOrEqual(intervalMs + 1);
    }
    const inARow = Array.from({ length: 11 }, () => send(true).restMs);
    expect(inARow).toContain(60 * SECOND);
    expect(Math.max(...inARow.slice(0, inARow.indexOf(60 * SECOND)))).toBeLessThan(60 * SECOND);
  });

  it('measures the rate a source sustained after its first limit only while no later request succeeded', () => {
    const firstLimit = (inFlight: 'success' | 'rate_limited') => {
      let s = newPacingState();
      for (let i = 0; i < 3; i++) s = step(s, { kind: 'success', sentAtMs: 0 }, 100 + i * 50).state;
      const rest = step(s, { kind: 'rate_limited', sentAtMs: 10 }, 300);
      expect(rest.restUntilMs).toBe(300 + 60 * SECOND);
      s = step(rest.state, { kind: inFlight, sentAtMs: 20 }, 350).state;
      return learnedRatePerS(step(s, { kind: 'success', sentAtMs: 300 + 60 * SECOND }, 400 + 60 * SECOND).state);
    };
    // closed: what was sent after the refusal was refused too, so 3 requests per minute is what the source allows
    expect(firstLimit('rate_limited')).toBeCloseTo(3 / 60.3, 3);
    // a request sent after the refusal succeeded: the source was not closed, so the rest measures nothing
    expect(firstLimit('success')).toBeNull();
  });

  it('follows a Retry-After, clamped to the longest rest', () => {
    const s = step(newPacingState(), { kind: 'success', sentAtMs: 0 }, 100).state;
    expect(step(s, { kind: 'rate_limited', sentAtMs: 100, retryAfterMs: 30 * SECOND }, 200).restUntilMs).toBe(200 + 30 * SECOND);
    expect(step(s, { kind: 'rate_limited', sentAtMs: 100, retryAfterMs: 48 * HOUR }, 200).restUntilMs).toBe(200 + 24 * HOUR);
  });

  it('does not extend a rest for a 429 to a request that was in flight when it began', () => {
    let s = newPacingState();
    for (let i = 0; i < 5; i++) s = step(s, { kind: 'success', sentAtMs: i * 100 }, i * 100 + 50).state;
    const rest = step(s, { kind: 'rate_limited', sentAtMs: 500 }, 600);
    const inFlight = step(rest.state, { kind: 'rate_limited', sentAtMs: 550 }, 5_000);
    expect(inFlight.restUntilMs).toBe(rest.restUntilMs);
    expect(learnedRatePerS(inFlight.state)).toBe(learnedRatePerS(rest.state));
  });

  it('keeps its state small and JSON', () => {
    const run = drive({
      sources: [tokenBucket({ ratePerS: 10, burst: 10 })],
      settings,
      latencyMs,
      durationMs: 10 * MINUTE,
      random: seededRandom(9),
    });
    const state = run.states[0];
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    expect(JSON.stringify(state).length).toBeLessThan(1500);
  });
});
