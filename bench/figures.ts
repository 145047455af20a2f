/**
 * Pure helpers of the benchmark (bench/run.ts): its options, the physical limit ("ideal") and the summary
 * table. No I/O here, so tests/unit/bench-format.test.ts covers them.
 *
 * The ideal: every upstream request costs one token of its proxy's rate limit, so P proxies at r requests/s
 * each answer at most P·r requests/s. A scenario needs, for N profiles in stories requests of k ids,
 *   requests = L + ceil(N / k)      (L = N user-id lookups when ids are not cached yet, else 0)
 * hence
 *   ideal_checks_per_s = N · P · r / requests
 * which is P·r·k for a re-check (ids cached), P·r / (1 + 1/k) for a first check, P·r for k = 1.
 */
import { parseBenchSection } from '../src/config.js';

export const SCENARIO_NAMES = [
  'first_check',
  'recheck',
  'zero_latency',
  'in_process',
  'one_per_request',
  'recheck_cached',
  'learned_pacing',
  // learned pacing against seven kinds of source, three runs each (bench/pacing-matrix.ts)
  'pacing_matrix',
  // a first check against the realistic source, 10 proxies and 4 sessions (bench/realistic.ts)
  'realistic',
  'where_the_time_goes',
  // a batch of 100,000 new usernames created over HTTP under queue transitions, then run (bench/scale.ts)
  'scale_100k',
  // the API, a process of its own, under creates, reads and a mix with SSE subscribers while a batch runs (bench/api-load.ts)
  'api_load',
  // a batch of 100,000 profiles downloaded as CSV and NDJSON: first byte, time, the API's heap (bench/export.ts)
  'export_100k',
  // a watch over 20,000 profiles of a niche with 10 webhook endpoints: first sighting to delivery, deliveries/s (bench/watch-fanout.ts)
  'watch_fanout',
] as const;
/**
 * Scenarios left out by `--skip-scale` (and by `--quick` unless named in `--only`): minutes, not seconds, and
 * about the system under size or load rather than the check's throughput.
 */
export const SCALE_SCENARIOS: readonly ScenarioName[] = ['scale_100k', 'api_load', 'realistic', 'export_100k', 'watch_fanout'];
/** Optional extra scenarios (`--experiments`): what the gap to ideal is made of. */
export const EXPERIMENT_NAMES = [
  'unlimited',
  'unlimited_one_per_request',
  'in_process_one_per_request',
  'paced_first_check',
  'paced_recheck',
  'paced_one_per_request',
  // a first check while the source rate limits 30% and fails 5% of all requests at random (paced)
  'storm_first_check',
] as const;

export type ScenarioName = (typeof SCENARIO_NAMES)[number] | (typeof EXPERIMENT_NAMES)[number];

/** The simulator's behaviour beyond rate and latency: its windows, time scale, storm, Retry-After (settings.ts). */
export interface SourceSettings {
  windows?: Array<{ requests: number; windowMs: number; kind: 'sliding' | 'fixed' }>;
  timeScale?: number;
  retryAfter?: boolean | number;
  rateLimitShare?: number;
}

/** What one scenario runs: its workload, the simulator's behaviour, and how the checks are driven. */
export interface ScenarioSpec {
  name: ScenarioName;
  latencyMs: number;
  /** 0 = no rate limit (ideal is then null). */
  rate: number;
  chunkSize: number;
  lookups: boolean;
  mode: 'workflow' | 'in_process';
  /** Requests spaced 1/rate apart per proxy by the bench's client (experiments only). */
  paced: boolean;
  /** The source rate limits 30% (Retry-After: 1) and fails 5% of all requests at random. */
  storm?: boolean;
  /** The simulator's burst for this scenario (default: the run's). */
  burst?: number;
  /** The proxies forget what they learned of the source's rate before this scenario. */
  coldStart?: boolean;
  /** More of the source's behaviour (over the friendly profile, which every scenario starts from). */
  source?: SourceSettings;
  /** PROXY_COOLDOWN_MS for this scenario (a time-scaled source rests the proxies for scaled times too). */
  cooldownMs?: number;
  /** BATCH_CONCURRENCY of this scenario's batches (default: the run's). */
  concurrency?: number;
  /** The batch's max_age_s: results younger than this answer their profiles with no request. */
  maxAgeS?: number;
  /**
   * Run the workload again and again: passes for `warmUpS` seconds first (not measured), then for `measureS`
   * seconds, measured as one (learned_pacing: the steady state after the proxies learned the source's rate).
   */
  passes?: { warmUpS: number; measureS: number };
}

export interface BenchOptions {
  profiles: number;
  proxies: number;
  /** Requests per second each proxy (each client address) may send. */
  rate: number;
  /** Token-bucket size at the simulator: requests an idle proxy may send at once. */
  burst: number;
  latencyMs: number;
  /** BATCH_CONCURRENCY of the workflow scenarios (chunks in flight). */
  concurrency: number;
  /** Eager activity execution on the dev server (`--no-eager` turns it off, to measure what it buys). */
  eager: boolean;
  scenarios: ScenarioName[];
  quick: boolean;
  /** `--skip-scale` / BENCH_SKIP_SCALE=1: the scale scenarios are left out even when named. */
  skipScale: boolean;
  /** Upper bound of one scenario, seconds; null = derived from its ideal. */
  timeLimitS: number | null;
  out: string;
}

/** Paced scenarios: requests through one proxy at least 1/rate + this apart (a proxy hop adds jitter). */
export const PACING_MARGIN_MS = 15;

/** Profiles of a scenario when BENCH_PROFILES does not say: fewer with --quick. */
const FULL_PROFILES = 5_000;
const QUICK_PROFILES = 500;

export class UsageError extends Error {
  override name = 'UsageError';
}

export const USAGE = `usage: npm run bench -- [--quick] [--skip-scale] [--no-eager] [--profiles N] [--proxies N] [--rate R]
                          [--burst B] [--latency MS] [--concurrency N] [--only a,b,...] [--experiments] [--time-limit S]
                          [--out FILE]
environment: BENCH_PROFILES, BENCH_PROXIES, BENCH_RATE, BENCH_BURST, BENCH_LATENCY_MS, BENCH_CONCURRENCY,
             BENCH_SCENARIOS, BENCH_TIME_LIMIT_S, BENCH_SKIP_SCALE=1, BENCH_EAGER (1/0), BENCH_DATABASE_ADMIN_URL
             (flags win over the environment)
scenarios: ${SCENARIO_NAMES.join(', ')}; with --experiments also ${EXPERIMENT_NAMES.join(', ')}
--skip-scale leaves out ${SCALE_SCENARIOS.join(', ')} (minutes each); --quick leaves them out too unless --only names them`;

const FLAG_TO_ENV: Record<string, string> = {
  '--profiles': 'BENCH_PROFILES',
  '--proxies': 'BENCH_PROXIES',
  '--rate': 'BENCH_RATE',
  '--burst': 'BENCH_BURST',
  '--latency': 'BENCH_LATENCY_MS',
  '--concurrency': 'BENCH_CONCURRENCY',
  '--only': 'BENCH_SCENARIOS',
  '--time-limit': 'BENCH_TIME_LIMIT_S',
  '--out': 'BENCH_OUT',
};

type Switch = 'quick' | 'experiments' | 'eager' | 'skipScale';

/** The flags without a value: each sets one switch (`--no-eager` turns its switch off). */
const SWITCH_FLAGS = new Map<string, { sets: Switch; to: boolean }>([
  ['--quick', { sets: 'quick', to: true }],
  ['--experiments', { sets: 'experiments', to: true }],
  ['--no-eager', { sets: 'eager', to: false }],
  ['--skip-scale', { sets: 'skipScale', to: true }],
]);

const isOn = (raw: string | undefined) => raw === '1' || raw === 'true';

/**
 * Flags (`--name value` or `--name=value`) over environment variables over defaults. The flags are read as the
 * variables they stand for, and the configuration's bench section (src/config/bench.ts) checks both and holds
 * the defaults; only the defaults computed from other options are made here.
 */
export function parseOptions(argv: readonly string[], env: Record<string, string | undefined> = {}): BenchOptions {
  const { values, switches } = readArguments(argv, env);
  const bench = parseBenchSection(values);
  const { quick, experiments, eager, skipScale } = switches;
  const proxies = bench.BENCH_PROXIES;
  const rate = bench.BENCH_RATE;
  return {
    profiles: bench.BENCH_PROFILES ?? (quick ? QUICK_PROFILES : FULL_PROFILES),
    proxies,
    rate,
    // the simulator's own burst: one second's worth of tokens
    burst: bench.BENCH_BURST ?? Math.max(1, Math.ceil(rate)),
    latencyMs: bench.BENCH_LATENCY_MS,
    // every request the proxies may carry at once (PROXY_MAX_IN_FLIGHT, default 4, per proxy) has a chunk ready
    concurrency: bench.BENCH_CONCURRENCY ?? proxies * 4,
    eager,
    scenarios: chooseScenarios(bench.BENCH_SCENARIOS, { quick, experiments, skipScale }),
    quick,
    skipScale,
    timeLimitS: bench.BENCH_TIME_LIMIT_S ?? null,
    out: bench.BENCH_OUT,
  };
}

/** The variables with the flags written over them, and the switches (the value-less flags over their variables). */
function readArguments(argv: readonly string[], env: Record<string, string | undefined>) {
  const values: Record<string, string | undefined> = { ...env };
  const switches: Record<Switch, boolean> = {
    quick: isOn(env.BENCH_QUICK),
    experiments: isOn(env.BENCH_EXPERIMENTS),
    eager: !(env.BENCH_EAGER === '0' || env.BENCH_EAGER === 'false'),
    skipScale: isOn(env.BENCH_SKIP_SCALE),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const toggle = SWITCH_FLAGS.get(arg);
    if (toggle) {
      switches[toggle.sets] = toggle.to;
      continue;
    }
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const key = FLAG_TO_ENV[flag];
    if (!key) throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    values[key] = value;
  }
  return { values, switches };
}

/** The scenarios asked for (BENCH_SCENARIOS, `--only`) in run order, or all of them, less what the switches leave out. */
function chooseScenarios(asked: string | undefined, switches: { quick: boolean; experiments: boolean; skipScale: boolean }): ScenarioName[] {
  const all: readonly ScenarioName[] = switches.experiments ? [...SCENARIO_NAMES, ...EXPERIMENT_NAMES] : SCENARIO_NAMES;
  let scenarios: ScenarioName[] = [...all];
  if (asked) {
    const known = new Set<string>([...SCENARIO_NAMES, ...EXPERIMENT_NAMES]);
    const names = asked.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = names.filter((s) => !known.has(s));
    if (unknown.length) throw new UsageError(`unknown scenario(s): ${unknown.join(', ')}`);
    // run order stays the canonical one (re-checks rely on the first check's cached ids)
    scenarios = [...SCENARIO_NAMES, ...EXPERIMENT_NAMES].filter((s) => names.includes(s));
  }
  if (switches.skipScale || (switches.quick && !asked)) scenarios = scenarios.filter((s) => !SCALE_SCENARIOS.includes(s));
  return scenarios;
}

export interface Workload {
  profiles: number;
  /** Profiles per stories request (CHECK_CHUNK_SIZE). */
  chunkSize: number;
  /** Whether every profile needs a user-id lookup first (ids not cached). */
  lookups: boolean;
}

/** Upstream requests a workload needs at the least: L lookups plus ceil(N / k) stories requests. */
export function requestsNeeded(w: Workload): number {
  return (w.lookups ? w.profiles : 0) + Math.ceil(w.profiles / w.chunkSize);
}

/** The physical limit in profiles checked per second: N · P · r / requests (see the header). */
export function idealChecksPerSecond(w: Workload, proxies: number, perProxyRate: number): number {
  return (w.profiles * proxies * perProxyRate) / requestsNeeded(w);
}

/** Seconds the workload takes at the physical limit. */
export function idealSeconds(w: Workload, proxies: number, perProxyRate: number): number {
  return requestsNeeded(w) / (proxies * perProxyRate);
}

/**
 * The token-bucket bound, burst included: each proxy starts with B tokens, so the busiest one needs
 * (ceil(R/P) − B)/r seconds at the least. Null when the whole workload fits in the initial burst (no bound).
 */
export function idealWithBurst(w: Workload, proxies: number, perProxyRate: number, burst: number): number | null {
  const seconds = (Math.ceil(requestsNeeded(w) / proxies) - burst) / perProxyRate;
  return seconds > 0 ? w.profiles / seconds : null;
}

/** A scenario's time limit: generous against its ideal, never below a minute. */
export function scenarioTimeLimitS(idealS: number, override: number | null): number {
  if (override !== null) return override;
  return Math.round(Math.max(60, 60 + 12 * idealS));
}

/**
 * The physical limit of a source that counts requests in windows (no token bucket): the least time in which
 * `proxies` addresses can send `requests` requests between them, each sending as soon as every window lets it
 * (sending early never hurts a later request, so that greedy schedule is the fastest). Window lengths are
 * divided by `timeScale`, as the simulator does. Seconds from the first send to the last.
 */
export function windowedLimitSeconds(
  requests: number,
  proxies: number,
  windows: ReadonlyArray<{ requests: number; windowMs: number; kind: 'sliding' | 'fixed' }>,
  timeScale = 1,
): number {
  const perProxy = Math.ceil(requests / proxies);
  const sends: number[] = [];
  for (let k = 0; k < perProxy; k++) {
    let t = k === 0 ? 0 : sends[k - 1]!;
    // a fixed window may push the send into the next period, where a sliding one may refuse it again: repeat until all agree
    for (let moved = true; moved; ) {
      moved = false;
      for (const w of windows) {
        const length = w.windowMs / timeScale;
        const earliest = w.kind === 'sliding' ? slidingEarliest(sends, w.requests, length, t) : fixedEarliest(sends, w.requests, length, t);
        if (earliest > t) {
          t = earliest;
          moved = true;
        }
      }
    }
    sends.push(t);
  }
  return (sends[sends.length - 1] ?? 0) / 1000;
}

/** The earliest time ≥ t at which fewer than n of `sends` (ascending) lie within the `length` ms before it. */
function slidingEarliest(sends: readonly number[], n: number, length: number, t: number): number {
  if (sends.length < n) return t;
  return Math.max(t, sends[sends.length - n]! + length);
}

/** The earliest time ≥ t whose fixed period (from the epoch of the run) holds fewer than n of `sends`. */
function fixedEarliest(sends: readonly number[], n: number, length: number, t: number): number {
  const start = Math.floor(t / length) * length;
  const inPeriod = sends.filter((s) => s >= start && s < start + length).length;
  return inPeriod < n ? t : start + length;
}

/** The median of some runs' figure and its spread. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function spread(values: readonly number[]): Spread | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: sorted.length };
}

/** `0.91 (0.88–0.93)`; one run shows its figure alone. */
export function formatSpread(s: Spread | null, digits = 3): string {
  if (!s) return '-';
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(digits) : '∞');
  return s.runs === 1 || s.min === s.max ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Contract fields of a scenario (docs/operations.md, "Benchmark output") and the extras shown next to them. */
export interface ScenarioFigures {
  name: string;
  profiles: number;
  proxies: number;
  per_proxy_rate: number;
  latency_ms: number;
  seconds: number;
  checks_per_s: number;
  /** null when no rate limit bounds the scenario. */
  ideal_checks_per_s: number | null;
  ratio_to_ideal: number | null;
  upstream_requests_per_profile: number;
  /** null for the in-process loop (no workflow). */
  max_history_events: number | null;
  worker_rss_mb: number;
  [extra: string]: unknown;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return String(value);
    return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toFixed(3);
  }
  return String(value);
}

/** Columns shown only when some scenario has a value in them. */
const OPTIONAL_COLUMNS: Array<[header: string, get: (s: ScenarioFigures) => unknown]> = [
  ['create s', (s) => s.create_s],
  ['max transition ms', (s) => s.max_transition_ms],
  ['api heap MB', (s) => (s.api_heap_mb_start === undefined ? undefined : `${cell(s.api_heap_mb_start)}→${cell(s.api_heap_mb_end)}`)],
];

const COLUMNS: Array<[header: string, get: (s: ScenarioFigures) => unknown]> = [
  ['scenario', (s) => s.name],
  ['profiles', (s) => s.profiles],
  ['proxies', (s) => s.proxies],
  ['rate/s', (s) => s.per_proxy_rate],
  ['lat ms', (s) => s.latency_ms],
  ['seconds', (s) => s.seconds],
  ['checks/s', (s) => s.checks_per_s],
  ['ideal/s', (s) => s.ideal_checks_per_s],
  ['ratio', (s) => s.ratio_to_ideal],
  ['req/profile', (s) => s.upstream_requests_per_profile],
  ['429s', (s) => s.rate_limited],
  ['max hist', (s) => s.max_history_events],
  ['rss MB', (s) => s.worker_rss_mb],
];

/** A plain-text table (also valid Markdown) of the scenarios' figures. */
export function formatTable(scenarios: readonly ScenarioFigures[]): string {
  const columns = [...COLUMNS, ...OPTIONAL_COLUMNS.filter(([, get]) => scenarios.some((s) => get(s) != null))];
  const rows = scenarios.map((s) => columns.map(([, get]) => cell(get(s))));
  const headers = columns.map(([h]) => h);
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}
