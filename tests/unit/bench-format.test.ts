import { describe, expect, it } from 'vitest';
import {
  formatTable,
  idealChecksPerSecond,
  idealSeconds,
  idealWithBurst,
  parseOptions,
  requestsNeeded,
  scenarioTimeLimitS,
  SCENARIO_NAMES,
  UsageError,
  type ScenarioFigures,
} from '../../bench/figures.js';

describe('bench: the ideal (physical limit)', () => {
  it('re-check: proxies × rate × 50 profiles per request', () => {
    const w = { profiles: 5_000, chunkSize: 50, lookups: false };
    expect(requestsNeeded(w)).toBe(100);
    expect(idealChecksPerSecond(w, 4, 10)).toBe(2_000);
    expect(idealSeconds(w, 4, 10)).toBe(2.5);
  });

  it('first check: one lookup per profile on top, proxies × rate / (1 + 1/50)', () => {
    const w = { profiles: 5_000, chunkSize: 50, lookups: true };
    expect(requestsNeeded(w)).toBe(5_100);
    expect(idealChecksPerSecond(w, 4, 10)).toBeCloseTo((4 * 10) / (1 + 1 / 50), 9);
  });

  it('one profile per request: proxies × rate', () => {
    expect(idealChecksPerSecond({ profiles: 5_000, chunkSize: 1, lookups: false }, 4, 10)).toBe(40);
  });

  it('counts a partial last chunk as a whole request', () => {
    expect(requestsNeeded({ profiles: 120, chunkSize: 50, lookups: false })).toBe(3);
    expect(idealChecksPerSecond({ profiles: 120, chunkSize: 50, lookups: false }, 1, 1)).toBe(40);
  });

  it('with a burst, the bound is looser; none when everything fits in the burst', () => {
    // 100 requests over 4 proxies: 25 each, 10 of them free at start → 1.5 s
    expect(idealWithBurst({ profiles: 5_000, chunkSize: 50, lookups: false }, 4, 10, 10)).toBeCloseTo(5_000 / 1.5, 9);
    expect(idealWithBurst({ profiles: 500, chunkSize: 50, lookups: false }, 4, 10, 10)).toBeNull();
  });

  it('gives every scenario at least a minute, more for long ones', () => {
    expect(scenarioTimeLimitS(0.25, null)).toBe(63);
    expect(scenarioTimeLimitS(127.5, null)).toBe(1_590);
    expect(scenarioTimeLimitS(127.5, 30)).toBe(30);
  });
});

describe('bench: options', () => {
  it('defaults: 5,000 profiles, 4 proxies, 10/s with a one-second burst, 50 ms, concurrency = a chunk per request the proxies may carry', () => {
    const o = parseOptions([], {});
    expect(o).toMatchObject({ profiles: 5_000, proxies: 4, rate: 10, burst: 10, latencyMs: 50, concurrency: 16, quick: false });
    expect(o.scenarios).toEqual([...SCENARIO_NAMES]);
  });

  it('--quick, flags over environment over defaults', () => {
    expect(parseOptions(['--quick'], {}).profiles).toBe(500);
    const o = parseOptions(['--proxies', '8', '--latency=0'], { BENCH_PROXIES: '2', BENCH_RATE: '2.5', BENCH_PROFILES: '300' });
    expect(o).toMatchObject({ proxies: 8, latencyMs: 0, rate: 2.5, burst: 3, profiles: 300, concurrency: 32 });
  });

  it('--only keeps the canonical order; --experiments adds the extra scenarios', () => {
    expect(parseOptions(['--only', 'recheck,first_check'], {}).scenarios).toEqual(['first_check', 'recheck']);
    expect(parseOptions(['--experiments'], {}).scenarios).toContain('unlimited');
  });

  it('runs scale_100k by default; --skip-scale or BENCH_SKIP_SCALE=1 leave it out, --quick too unless named', () => {
    expect(parseOptions([], {}).scenarios).toContain('scale_100k');
    expect(parseOptions(['--skip-scale'], {}).scenarios).not.toContain('scale_100k');
    expect(parseOptions([], { BENCH_SKIP_SCALE: '1' }).scenarios).not.toContain('scale_100k');
    expect(parseOptions(['--quick'], {}).scenarios).not.toContain('scale_100k');
    expect(parseOptions(['--quick', '--only', 'scale_100k'], {}).scenarios).toEqual(['scale_100k']);
    expect(parseOptions(['--skip-scale', '--only', 'scale_100k,recheck'], {}).scenarios).toEqual(['recheck']);
  });

  it('rejects what it does not understand', () => {
    expect(() => parseOptions(['--nope'], {})).toThrow(UsageError);
    expect(() => parseOptions(['--proxies', '0'], {})).toThrow(/BENCH_PROXIES/);
    expect(() => parseOptions([], { BENCH_LATENCY_MS: 'soon' })).toThrow(/BENCH_LATENCY_MS/);
    expect(() => parseOptions(['--only', 'warp'], {})).toThrow(/warp/);
    expect(() => parseOptions(['--rate'], {})).toThrow(/needs a value/);
  });
});

describe('bench: table', () => {
  const row = (over: Partial<ScenarioFigures>): ScenarioFigures => ({
    name: 'recheck',
    profiles: 5_000,
    proxies: 4,
    per_proxy_rate: 10,
    latency_ms: 50,
    seconds: 3.21,
    checks_per_s: 1557.6,
    ideal_checks_per_s: 2_000,
    ratio_to_ideal: 0.779,
    upstream_requests_per_profile: 0.02,
    max_history_events: 330,
    worker_rss_mb: 310,
    rate_limited: 0,
    ...over,
  });

  it('shows the create columns only when a scenario has them', () => {
    expect(formatTable([row({})])).not.toContain('create s');
    const table = formatTable([row({}), row({ name: 'scale_100k', create_s: 3.2, max_transition_ms: 120, api_heap_mb_start: 60, api_heap_mb_end: 61 })]);
    expect(table).toContain('max transition ms');
    expect(table).toContain('60→61');
  });

  it('aligns columns and shows missing figures as "-"', () => {
    const table = formatTable([row({}), row({ name: 'in_process', max_history_events: null, ideal_checks_per_s: null, ratio_to_ideal: null })]);
    const lines = table.split('\n');
    expect(lines).toHaveLength(4);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    expect(lines[0]).toMatch(/^\| scenario\s+\| profiles \|/);
    expect(lines[1]).toMatch(/^\|-+\|-+:\|/);
    expect(lines[2]).toContain('| 0.779 |');
    expect(lines[2]).toMatch(/\|\s+1558 \|/);
    expect(lines[3]).toMatch(/\|\s+- \|\s+- \|/);
  });
});
