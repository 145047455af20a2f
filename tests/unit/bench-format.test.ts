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
  formatSpread,
  spread,
  UsageError,
  windowedLimitSeconds,
  type ScenarioFigures,
} from '../../bench/figures.js';
import { apiLoadBatch, BATCH_TARGET_S, PHASE_S } from '../../bench/api-load-plan.js';
import { apiLoadGoals, formatApiLoad, percentile, type ApiLoadExtras, type LoadFigures } from '../../bench/api-load-report.js';
import { formatPacingMatrix, summarize, type SourceRun } from '../../bench/pacing-matrix-report.js';
import { formatRealistic } from '../../bench/realistic-report.js';
import { exportGoals, formatExport, type DownloadFigures } from '../../bench/export-report.js';
import { fanoutFigures, formatWatchFanout, type FanoutInput, type ReceivedDelivery } from '../../bench/watch-fanout-report.js';

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

  it('pacing_matrix runs in --quick too; realistic (a quarter of an hour at 5,000) is left out like scale_100k', () => {
    expect(parseOptions(['--quick'], {}).scenarios).toContain('pacing_matrix');
    expect(parseOptions(['--quick'], {}).scenarios).not.toContain('realistic');
    expect(parseOptions(['--skip-scale'], {}).scenarios).not.toContain('realistic');
    expect(parseOptions([], {}).scenarios).toContain('realistic');
    expect(parseOptions(['--only', 'realistic,pacing_matrix,learned_pacing'], {}).scenarios).toEqual(['learned_pacing', 'pacing_matrix', 'realistic']);
  });

  it('api_load is left out like scale_100k: by --skip-scale, and by --quick unless named', () => {
    expect(parseOptions([], {}).scenarios).toContain('api_load');
    expect(parseOptions(['--skip-scale'], {}).scenarios).not.toContain('api_load');
    expect(parseOptions(['--quick'], {}).scenarios).not.toContain('api_load');
    expect(parseOptions(['--quick', '--only', 'api_load'], {}).scenarios).toEqual(['api_load']);
  });

  it('export_100k is left out like scale_100k, and runs when named', () => {
    expect(parseOptions([], {}).scenarios).toContain('export_100k');
    expect(parseOptions(['--skip-scale'], {}).scenarios).not.toContain('export_100k');
    expect(parseOptions(['--quick'], {}).scenarios).not.toContain('export_100k');
    expect(parseOptions(['--only', 'export_100k'], {}).scenarios).toEqual(['export_100k']);
  });

  it('watch_fanout is left out like scale_100k, and runs when named', () => {
    expect(parseOptions([], {}).scenarios).toContain('watch_fanout');
    expect(parseOptions(['--skip-scale'], {}).scenarios).not.toContain('watch_fanout');
    expect(parseOptions(['--quick'], {}).scenarios).not.toContain('watch_fanout');
    expect(parseOptions(['--only', 'watch_fanout'], {}).scenarios).toEqual(['watch_fanout']);
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

describe('bench: the physical limit of a source with windows', () => {
  it('a sliding window lets its whole count through at once, then one window later', () => {
    const w = [{ requests: 20, windowMs: 11_000, kind: 'sliding' as const }];
    // 40 requests per proxy: 20 at 0, 20 at 11 s
    expect(windowedLimitSeconds(80, 2, w)).toBe(11);
    expect(windowedLimitSeconds(81, 2, w)).toBe(22);
  });

  it('divides window lengths by the time scale, and the strictest window binds', () => {
    const w = [
      { requests: 3, windowMs: 60_000, kind: 'sliding' as const },
      { requests: 20, windowMs: 660_000, kind: 'sliding' as const },
    ];
    // ×60: 3 per second and 20 per 11 s; 21 requests: 20 by 6 s (3 a second), the 21st once the first has left 11 s later
    expect(windowedLimitSeconds(21, 1, w, 60)).toBe(11);
    expect(windowedLimitSeconds(3, 1, w, 60)).toBe(0);
    expect(windowedLimitSeconds(4, 1, w, 60)).toBe(1);
  });

  it('a fixed window refills at each period boundary', () => {
    const w = [{ requests: 5, windowMs: 1_000, kind: 'fixed' as const }];
    expect(windowedLimitSeconds(5, 1, w)).toBe(0);
    expect(windowedLimitSeconds(6, 1, w)).toBe(1);
    expect(windowedLimitSeconds(11, 1, w)).toBe(2);
  });
});

describe('bench: medians and spreads', () => {
  it('median of an odd or even count, with min and max', () => {
    expect(spread([0.9, 0.7, 0.8])).toEqual({ median: 0.8, min: 0.7, max: 0.9, runs: 3 });
    expect(spread([1, 3])).toMatchObject({ median: 2 });
    expect(spread([])).toBeNull();
  });

  it('shows one run alone and several as median (min–max)', () => {
    expect(formatSpread(spread([0.5]))).toBe('0.500');
    expect(formatSpread(spread([0.9, 0.7, 0.8]))).toBe('0.800 (0.700–0.900)');
    expect(formatSpread(spread([2, Infinity, 3]), 1)).toBe('3.0 (2.0–∞)');
    expect(formatSpread(null)).toBe('-');
  });
});

describe('bench: pacing_matrix', () => {
  const run = (over: Partial<SourceRun>): SourceRun => ({
    share_of_limit: 0.9,
    rate_limited_share: 0.01,
    rate_limited_by: { bucket: 1, window: 0, random: 0 },
    requests: 100,
    seconds: 10,
    learned_rate_per_s: [2.4],
    ...over,
  });

  it('judges the median against the goal', () => {
    expect(summarize('token_bucket', 'bucket', [run({}), run({ share_of_limit: 0.5 }), run({ share_of_limit: 0.95 })]).met).toBe(true);
    expect(summarize('token_bucket', 'bucket', [run({ rate_limited_share: 0.03 })]).met).toBe(false);
    expect(summarize('sliding_window', 'sliding', [run({ share_of_limit: 0.81 })]).met).toBe(true);
    expect(summarize('storm_bucket', 'storm', [run({ share_of_limit: 0.6, rate_limited_share: 0.3 })]).met).toBe(true);
  });

  it('the storm: time within 4× the calm one and no profile wrongly failed, in every run', () => {
    const calm = run({ share_of_limit: null, time_ratio: 3, wrongly_failed: 0 });
    expect(summarize('storm', 'storm', [calm, calm]).met).toBe(true);
    expect(summarize('storm', 'storm', [calm, { ...calm, wrongly_failed: 1 }]).met).toBe(false);
    expect(summarize('storm', 'storm', [{ ...calm, time_ratio: 4.5 }]).met).toBe(false);
  });

  it('the slow source needs its CPU under 5% of a core; a limit change never recovered from is a miss', () => {
    expect(summarize('slow', 'slow', [run({ share_of_limit: 0.95, cpu_share: 0.02 })]).met).toBe(true);
    expect(summarize('slow', 'slow', [run({ share_of_limit: 0.95, cpu_share: 0.08 })]).met).toBe(false);
    const changes = (lifted: number | null) => run({ share_of_limit: null, recovery_s: { halved: 3, doubled: 20, lifted } });
    expect(summarize('limit_changes', 'changes', [changes(40)]).met).toBe(true);
    const missed = summarize('limit_changes', 'changes', [changes(40), changes(null), changes(30)]);
    expect(missed.met).toBe(false);
    expect(missed.recovery_s?.lifted).toMatchObject({ median: 40, max: Infinity });
  });

  it('prints one aligned line per source with its goal, figures and verdict', () => {
    const block = formatPacingMatrix([
      summarize('token_bucket', 'bucket 2.5/s, burst 3', [run({ share_of_limit: 0.91 }), run({ share_of_limit: 0.88 }), run({ share_of_limit: 0.93 })]),
      summarize('slow', '1 per 2 s', [run({ share_of_limit: 0.7, cpu_share: 0.01 })]),
    ]);
    const lines = block.split('\n');
    expect(lines[0]).toContain('median of 3 runs');
    expect(new Set(lines.slice(1).map((l) => l.length)).size).toBe(1);
    expect(block).toMatch(/token_bucket: bucket 2\.5\/s, burst 3 +\| ≥ 0\.85 of the limit, ≤ 2% 429s \| 0\.910 \(0\.880–0\.930\) .*\| pass/);
    expect(block).toMatch(/slow: .*\| 0\.700 .*CPU 0\.010 of a core +\| MISS/);
  });
});

describe('bench: realistic', () => {
  it('prints time against the limit, 429s by cause, sessions and wrongly failed profiles', () => {
    const block = formatRealistic({
      name: 'realistic',
      profiles: 5_000,
      proxies: 10,
      per_proxy_rate: 3.6,
      latency_ms: 50,
      seconds: 190.5,
      checks_per_s: 26.2,
      ideal_checks_per_s: 35.7,
      ratio_to_ideal: 0.735,
      upstream_requests_per_profile: 1.1,
      max_history_events: 300,
      worker_rss_mb: 400,
      time_scale: 120,
      physical_limit_s: 140,
      requests: 5_600,
      rate_limited: 300,
      rate_limited_by: { bucket: 0, window: 190, random: 110 },
      rate_limited_share: 0.0536,
      sessions: 4,
      sessions_invalidated: 8,
      sessions_recovered: 8,
      sessions_at_end: { valid: 4 },
      operator_clears: 2,
      failed: 0,
      wrongly_failed: 0,
      wrongly_answered: 0,
    });
    expect(block).toContain('190.5 s against a physical limit of 140 s (ratio 0.735)');
    expect(block).toContain('300 of 5600 requests (5.4%): window 190, random 110, bucket 0');
    expect(block).toContain('8 invalidated, 8 recovered (checkpoints cleared 2 times); at the end 4 valid');
    expect(block).toContain('0 wrongly (goal 0: pass)');
  });
});

describe('bench: export_100k', () => {
  const download = (format: 'csv' | 'ndjson', firstByteMs: number, growthMb: number, liveMb: number): DownloadFigures => ({
    format,
    rows: 100_000,
    bytes: 12_000_000,
    first_byte_ms: firstByteMs,
    total_ms: 1_500,
    rows_per_s: 66_667,
    heap_growth_mb: growthMb,
    heap_start_mb: 78.5,
    heap_max_mb: 78.5 + growthMb,
    heap_samples: 200,
    live_heap_growth_mb: liveMb,
    live_heap_probes: 12,
  });

  it('judges each file by its first byte, its heap growth and its live heap growth, against 500 ms and 20 MB', () => {
    const goals = exportGoals([download('csv', 500, 20, 0.5), download('ndjson', 501, 20.1, 21)]);
    expect(goals.map((g) => [g.goal, g.met])).toEqual([
      ['csv: first byte ≤ 500 ms', true],
      ['csv: heap growth ≤ 20 MB', true],
      ['csv: live heap growth ≤ 20 MB', true],
      ['ndjson: first byte ≤ 500 ms', false],
      ['ndjson: heap growth ≤ 20 MB', false],
      ['ndjson: live heap growth ≤ 20 MB', false],
    ]);
  });

  it('prints a line per file and the goals', () => {
    const downloads = [download('csv', 180, 28.4, 0.5)];
    const block = formatExport({
      name: 'export_100k',
      profiles: 100_000,
      proxies: 4,
      per_proxy_rate: 0,
      latency_ms: 0,
      seconds: 1.5,
      checks_per_s: 0,
      ideal_checks_per_s: null,
      ratio_to_ideal: null,
      upstream_requests_per_profile: 0,
      max_history_events: null,
      worker_rss_mb: 300,
      seed_s: 4.9,
      downloads,
      api_heap_mb_end: 79,
      goals: exportGoals(downloads),
    });
    expect(block).toContain('csv    100,000 rows, 11.4 MB: first byte 180 ms, all in 1500 ms (66,667 rows/s)');
    expect(block).toContain('API heap 78.5 → max 106.9 MB (+28.4 MB, 200 samples); live +0.5 MB (12 collections)');
    expect(block).toMatch(/MISS {2}csv: heap growth ≤ 20 MB +28.4 MB/);
    expect(block).toMatch(/pass {2}csv: live heap growth ≤ 20 MB +0.5 MB/);
  });
});

describe('bench: watch_fanout', () => {
  const setting = { watched_profiles: 20_000, endpoints: 2, every_s: 30, story_post_every_s: 1_200, story_ttl_s: 1_200 };
  const delivery = (endpoint: number, webhookId: string, item: string, receivedAtMs: number, arrivals = 1, verified = true): ReceivedDelivery => ({
    endpoint,
    webhookId,
    item,
    receivedAtMs,
    arrivals,
    verified,
  });
  // two batches: b1 saw items a and b at 1,000 ms, b2 saw c at 31,000 ms; two endpoints
  const input = (received: ReceivedDelivery[]): FanoutInput => ({
    setting,
    batches: [
      { id: 'b1', profiles: 20_000, seconds: 12 },
      { id: 'b2', profiles: 20_000, seconds: 10 },
    ],
    items: [
      { item: 'p/a', firstSeenAtMs: 1_000, batchId: 'b1' },
      { item: 'p/b', firstSeenAtMs: 1_000, batchId: 'b1' },
      { item: 'p/c', firstSeenAtMs: 31_000, batchId: 'b2' },
    ],
    received,
  });
  const complete = [
    delivery(0, 'm1', 'p/a', 1_100),
    delivery(1, 'm2', 'p/a', 1_200, 2),
    delivery(0, 'm3', 'p/b', 1_300),
    delivery(1, 'm4', 'p/b', 2_000),
    delivery(0, 'm5', 'p/c', 31_500),
    delivery(1, 'm6', 'p/c', 32_000),
  ];

  it('measures from first sighting to delivery, deliveries per second over their span and per batch, and counts repeated arrivals', () => {
    const f = fanoutFigures(input(complete));
    expect(f.sighting_to_delivery_ms).toEqual({ p50: 300, p99: 1_000, max: 1_000 });
    expect(f).toMatchObject({ new_items: 3, deliveries_expected: 6, deliveries: 6, delivery_span_s: 30.9, deliveries_per_s: 0.2, duplicates: 1, announced_twice: 0, unverified: 0, unexpected: 0 });
    expect(f.batches).toEqual([
      { profiles: 20_000, seconds: 12, new_items: 2, deliveries: 4, delivery_span_s: 1, deliveries_per_s: 4 },
      { profiles: 20_000, seconds: 10, new_items: 1, deliveries: 2, delivery_span_s: 1, deliveries_per_s: 2 },
    ]);
    expect(f.peak_deliveries_per_s).toBe(4);
    expect([f.batch_s_median, f.batch_s_max]).toEqual([10, 12]);
    expect(f.goals.every((g) => g.met)).toBe(true);
  });

  it('misses its goals on a lost delivery, an item announced twice, an unverified request or an item that is not new', () => {
    const f = fanoutFigures(input([...complete.slice(1), delivery(1, 'm7', 'p/a', 5_000), delivery(0, 'm8', 'p/old', 2_000, 1, false)]));
    expect(f.deliveries).toBe(6);
    expect(f.announced_twice).toBe(1);
    expect(f.unverified).toBe(1);
    expect(f.unexpected).toBe(1);
    expect(f.goals.map((g) => g.met)).toEqual([false, false, false]);
    const lost = fanoutFigures(input(complete.slice(1)));
    expect(lost.goals.map((g) => [g.goal, g.met])).toEqual([
      ['every new item reached every endpoint', false],
      ['no item announced twice to an endpoint', true],
      ['every request verified (standardwebhooks)', true],
    ]);
  });

  it('prints the setting, a line per batch, the latency and the rate, and the goals', () => {
    const block = formatWatchFanout({
      name: 'watch_fanout',
      profiles: 20_000,
      proxies: 4,
      per_proxy_rate: 0,
      latency_ms: 0,
      seconds: 22,
      checks_per_s: 1_818.2,
      ideal_checks_per_s: null,
      ratio_to_ideal: null,
      upstream_requests_per_profile: 0.02,
      max_history_events: null,
      worker_rss_mb: 250,
      ...fanoutFigures(input(complete)),
    });
    expect(block).toContain('a watch every 30 s over 20,000 profiles of a niche, 2 webhook endpoints for story.posted');
    expect(block).toContain('batch 1: 20,000 profiles in 12 s, 2 new items, 4 deliveries in 1 s from the first sighting (4.0/s)');
    expect(block).toContain('first sighting → delivery: p50 300 ms, p99 1,000 ms, max 1,000 ms');
    expect(block).toContain('6 deliveries of 3 new items in 30.9 s: 0.2/s (best batch 4.0/s); 1 duplicate arrivals');
    expect(block).toMatch(/pass {2}every new item reached every endpoint +6 of 6, 0 unexpected/);
  });
});
