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
import { apiLoadBatch, BATCH_TARGET_S, PHASE_S } from '../../bench/api-load-plan.js';
import { apiLoadGoals, formatApiLoad, percentile, type ApiLoadExtras, type LoadFigures } from '../../bench/api-load-report.js';

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

  it('api_load is left out like scale_100k: by --skip-scale, and by --quick unless named', () => {
    expect(parseOptions([], {}).scenarios).toContain('api_load');
    expect(parseOptions(['--skip-scale'], {}).scenarios).not.toContain('api_load');
    expect(parseOptions(['--quick'], {}).scenarios).not.toContain('api_load');
    expect(parseOptions(['--quick', '--only', 'api_load'], {}).scenarios).toEqual(['api_load']);
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

describe('bench: api_load', () => {
  it('sizes its batch so that its paced rate, not the machine, makes it last a little longer than the phases', () => {
    expect(BATCH_TARGET_S).toBeGreaterThan(3 * PHASE_S);
    // 100 stories requests of 50, 25 per proxy: 24 gaps of 1/rate + 15 ms in the target time
    const b = apiLoadBatch(5_000, 4);
    expect(b).toMatchObject({ chunkSize: 50, requests: 100 });
    expect(24 * (1000 / b.rate + 15)).toBeCloseTo(BATCH_TARGET_S * 1000, -2);
    // few profiles: smaller chunks, so that each proxy still sends a dozen requests
    expect(apiLoadBatch(500, 4)).toMatchObject({ chunkSize: 10, requests: 50 });
    expect(apiLoadBatch(10, 4).chunkSize).toBe(1);
  });

  it('percentile: nearest rank, null when empty', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 0.5)).toBe(50);
    expect(percentile(values, 0.99)).toBe(99);
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentile([], 0.5)).toBeNull();
  });

  const phase = (over: Partial<LoadFigures>): LoadFigures => ({
    connections: 50,
    seconds: 10,
    answered: 3_000,
    ok: 3_000,
    ok_per_s: 300,
    answered_per_s: 300,
    p50_ms: 80,
    p99_ms: 250,
    max_ms: 400,
    errors: 0,
    connection_errors: 0,
    timeouts: 0,
    stalled: 0,
    statuses: { '201': 3_000 },
    error_bodies: [],
    ...over,
  });
  const readyz = { interval_ms: 250, polls: 120, not_200: 0, not_200_by_phase: {}, p99_ms: 20, max_ms: 40, failures: [] };
  const sse = {
    subscribers: 100,
    connected: 100,
    stayed_connected: 100,
    ended_early: 0,
    events: 5_000,
    events_by_type: { progress: 1_000, log: 4_000 },
    first_event_p50_ms: 30,
    first_event_p99_ms: 90,
    failures: [],
  };

  it('marks each goal pass or MISS, and prints them under the phases', () => {
    const phases = {
      creates: phase({}),
      reads: phase({ connections: 200, ok_per_s: 2_500, p99_ms: 140, statuses: { '200': 25_000 } }),
      mix: { ...phase({ connections: 80, timeouts: 1, stalled: 1, errors: 1, error_bodies: ['503 {"error":{"code":"unavailable"}}'] }), sse },
    };
    const goals = apiLoadGoals({ phases, readyz, batch_slowdown: 0.05 });
    expect(goals.map((g) => g.met)).toEqual([true, false, false, true, true]);
    const extras: ApiLoadExtras = {
      unloaded_seconds: 36.1,
      loaded_seconds: 37.9,
      unloaded_rate_limited: 0,
      batch_slowdown: 0.05,
      batch: { chunk_size: 50, requests_needed: 100, burst: 1, load_started_after_s: 0.3, running_at_load_end: true, checked_at_load_end: 4_100 },
      phases,
      readyz,
      api_log: { warnings: 0, errors: 0, messages: [] },
      goals,
    };
    const block = formatApiLoad({
      name: 'api_load',
      profiles: 5_000,
      proxies: 4,
      per_proxy_rate: 0.673,
      latency_ms: 50,
      seconds: 37.9,
      checks_per_s: 131.9,
      ideal_checks_per_s: 134.6,
      ratio_to_ideal: 0.98,
      upstream_requests_per_profile: 0.02,
      max_history_events: 300,
      worker_rss_mb: 400,
      rate_limited: 0,
      ...extras,
    });
    expect(block).toContain('slowdown +5.0%');
    expect(block).toMatch(/pass {2}creates ≥ 200\/s with p99 < 500 ms/);
    expect(block).toMatch(/MISS {2}reads ≥ 2,000\/s with p99 < 100 ms +2,500\/s, p99 140 ms/);
    expect(block).toMatch(/MISS {2}0 errors and 0 timeouts +1 errors, 2 timeouts or stalled/);
    expect(block).toContain('mix: 503 {"error":{"code":"unavailable"}}');
    expect(block).toContain('100 connected, 100 stayed to the end');
    // the phase table's lines line up
    const rows = block.split('\n').filter((l) => l.startsWith('  |'));
    expect(rows).toHaveLength(5);
    expect(new Set(rows.map((l) => l.length)).size).toBe(1);
  });
});
