/**
 * `pacing_matrix`: the product's learned pacing (no PROXY_MIN_INTERVAL_MS) against seven kinds of source, each
 * from a cold start (nothing learned), with a re-check (ids cached, stories requests of 50) kept running
 * through it (bench/passes.ts): a warm-up, then a measurement of the requests answered other than 429 per second
 * against the physical limit, and of the share of 429s. Three runs of each (one with --quick); the figures are
 * their median and spread, beside the goals (bench/pacing-matrix-report.ts).
 *
 * Sources (r = the run's rate / 4, 2.5/s by default, as learned_pacing; P = the run's proxies):
 * - token_bucket    r per proxy, a bucket of ceil(r), Retry-After given (the friendly source).
 * - fixed_window    5 requests per fixed second per proxy, Retry-After given.
 * - sliding_window  20 per 11 minutes per proxy, time-scaled by 60 (20 per 11 s), no Retry-After; the proxies'
 *                   cooldown (PROXY_COOLDOWN_MS, 60 s) is scaled alike (1 s).
 * - storm           no limit, 30% of requests 429 at random (Retry-After 1): a pass of the re-check with the
 *                   storm, after one to warm up, against the same pass with no storm (the physical time here: no
 *                   limit but the system's own); every profile exists, so any failed one is wrongly failed.
 * - storm_bucket    the token bucket with the 30% storm on top.
 * - slow            one request per 20 s per proxy (a sliding window of 1), time-scaled by 10 (one per 2 s), no
 *                   Retry-After, cooldown scaled alike (6 s); this process's CPU over the measurement (the worker
 *                   runs in it, with the simulator and the proxies).
 * - limit_changes   the token bucket, halved after the warm-up, then doubled, then lifted: each phase lasts until
 *                   the new limit is met at 0.8 or more over 3 s (then 5 s more), at most 120 s. Lifted has no
 *                   limit: its target is twice the last one (the pace must at least double).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { upsertProfiles } from '../src/repos/profiles.js';
import { round, type ScenarioFigures, type ScenarioSpec, type SourceSettings } from './figures.js';
import { CHANGES, formatPacingMatrix, summarize, type Change, type SourceFigures, type SourceKey, type SourceRun } from './pacing-matrix-report.js';
import { Sampler, startPasses, type Passes } from './passes.js';
import { runWorkflow } from './runs.js';
import { resetWorld, runningBatch, say, type World } from './world.js';

const CHUNK = 50;
/** Requests of the storm's pass (and its calm one). */
const STORM_REQUESTS = { full: 150, quick: 60 } as const;
const STORM_SHARE = 0.3;
const ROLLING_MS = 3_000;
const CHANGE_LIMIT_MS = 120_000;
const AFTER_RECOVERY_MS = 5_000;

interface Timing {
  warmUpS: number;
  measureS: number;
}

interface Source {
  key: SourceKey;
  describe: string;
  rate: number;
  burst?: number;
  settings?: SourceSettings;
  cooldownMs?: number;
  /** Requests per second one proxy may send, sustained (the physical limit per proxy). */
  limitPerProxy: number;
  timing: Timing;
}

function sources(world: World): Source[] {
  const o = world.options;
  const r = o.rate / 4;
  const burst = Math.max(1, Math.ceil(r));
  const t = (full: Timing, quick: Timing) => (o.quick ? quick : full);
  const short = t({ warmUpS: 8, measureS: 12 }, { warmUpS: 6, measureS: 8 });
  return [
    { key: 'token_bucket', describe: `bucket ${r}/s, burst ${burst}`, rate: r, burst, limitPerProxy: r, timing: short },
    {
      key: 'fixed_window',
      describe: '5 per fixed 1 s',
      rate: 0,
      settings: { windows: [{ requests: 5, windowMs: 1_000, kind: 'fixed' }] },
      limitPerProxy: 5,
      timing: short,
    },
    {
      key: 'sliding_window',
      describe: '20 per 11 min, ×60 (20 per 11 s), no Retry-After',
      rate: 0,
      settings: { windows: [{ requests: 20, windowMs: 11 * 60_000, kind: 'sliding' }], timeScale: 60, retryAfter: false },
      cooldownMs: 1_000,
      limitPerProxy: 20 / 11,
      timing: t({ warmUpS: 22, measureS: 22 }, { warmUpS: 22, measureS: 11 }),
    },
    { key: 'storm', describe: `no limit, ${STORM_SHARE * 100}% random 429`, rate: 0, settings: { rateLimitShare: STORM_SHARE }, limitPerProxy: 0, timing: short },
    {
      key: 'storm_bucket',
      describe: `bucket ${r}/s + ${STORM_SHARE * 100}% random 429`,
      rate: r,
      burst,
      settings: { rateLimitShare: STORM_SHARE },
      limitPerProxy: r,
      timing: short,
    },
    {
      key: 'slow',
      describe: '1 per 20 s, ×10 (1 per 2 s), no Retry-After',
      rate: 0,
      settings: { windows: [{ requests: 1, windowMs: 20_000, kind: 'sliding' }], timeScale: 10, retryAfter: false },
      cooldownMs: 6_000,
      limitPerProxy: 0.5,
      timing: t({ warmUpS: 20, measureS: 30 }, { warmUpS: 20, measureS: 20 }),
    },
    {
      key: 'limit_changes',
      describe: `bucket ${r}/s, then ${r / 2}, ${r}, none`,
      rate: r,
      burst,
      limitPerProxy: r,
      timing: t({ warmUpS: 10, measureS: 0 }, { warmUpS: 8, measureS: 0 }),
    },
  ];
}

export async function runPacingMatrix(world: World, spec: ScenarioSpec): Promise<ScenarioFigures> {
  const o = world.options;
  const started = performance.now();
  const all = sources(world);
  const runs = o.quick ? 1 : 3;
  // enough profiles that one batch outlasts the warm-up and the measurement of the fastest source
  const poolRequests = Math.max(
    ...all.map((s) => Math.ceil(s.limitPerProxy * o.proxies * (s.timing.warmUpS + s.timing.measureS) * 1.25)),
    STORM_REQUESTS.full,
  );
  const profileIds = await matrixProfiles(world, Math.min(40_000, poolRequests * CHUNK));
  say(`${spec.name}: ${all.length} sources × ${runs} run(s), ${profileIds.length} profiles in stories requests of ${CHUNK}, ${o.proxies} proxies`);

  const totals = { checked: 0, requests: 0, rateLimited: 0 };
  const figures: SourceFigures[] = [];
  for (const source of all) {
    const done: SourceRun[] = [];
    for (let i = 0; i < runs && !world.interrupted.aborted; i++) {
      const run = await runSource(world, spec, source, profileIds, totals);
      say(`  ${spec.name} ${source.key} #${i + 1}: ${JSON.stringify({ ...run, learned_rate_per_s: undefined })}; learned ${JSON.stringify(run.learned_rate_per_s)}/s`);
      done.push(run);
    }
    figures.push(summarize(source.key, source.describe, done));
  }
  const seconds = (performance.now() - started) / 1000;
  say(formatPacingMatrix(figures));
  return {
    name: spec.name,
    profiles: totals.checked,
    proxies: o.proxies,
    per_proxy_rate: o.rate / 4,
    latency_ms: spec.latencyMs,
    seconds: round(seconds, 1),
    checks_per_s: round(totals.checked / seconds, 1),
    ideal_checks_per_s: null,
    ratio_to_ideal: null,
    upstream_requests_per_profile: totals.checked ? round(totals.requests / totals.checked, 4) : 0,
    max_history_events: null,
    worker_rss_mb: round(process.memoryUsage().rss / 2 ** 20, 0),
    rate_limited: totals.rateLimited,
    chunk_size: CHUNK,
    runs_per_source: runs,
    sources: figures,
  };
}

/** Profiles of the matrix's own (more than a pass of the run's N needs), their user ids cached. */
async function matrixProfiles(world: World, count: number): Promise<string[]> {
  const usernames = Array.from({ length: count }, (_, i) => `bench_matrix_${i}`);
  const ids: string[] = [];
  for (let i = 0; i < usernames.length; i += 5_000) {
    const slice = usernames.slice(i, i + 5_000);
    const { items } = await upsertProfiles(world.db.sql, slice);
    ids.push(...items.map((p) => p.id));
    const uids = slice.map((u) => world.sim.simulator.population.lookup(u)?.userId ?? '');
    await world.db.sql`
      update profiles p set upstream_user_id = t.uid, is_private = false
      from unnest(${slice}::text[], ${uids}::text[]) as t(username, uid)
      where p.username = t.username and t.uid <> ''`;
  }
  return ids;
}

function specFor(spec: ScenarioSpec, source: Source): ScenarioSpec {
  return {
    ...spec,
    rate: source.rate,
    chunkSize: CHUNK,
    lookups: false,
    paced: false,
    coldStart: true,
    ...(source.burst !== undefined ? { burst: source.burst } : {}),
    ...(source.settings ? { source: source.settings } : {}),
    ...(source.cooldownMs !== undefined ? { cooldownMs: source.cooldownMs } : {}),
  };
}

/** Runs one source once over the matrix's profiles, adding what it asked to the scenario's totals. */
type SourceRunner = (
  world: World,
  spec: ScenarioSpec,
  source: Source,
  profileIds: string[],
  totals: { checked: number; requests: number; rateLimited: number },
) => Promise<SourceRun>;

const runSource: SourceRunner = async (world, spec, source, profileIds, totals) => {
  if (source.key === 'storm') return runStorm(world, spec, source, profileIds, totals);
  await resetWorld(world, specFor(spec, source));
  const sampler = new Sampler(world);
  const passes = startPasses(world, `${spec.name} ${source.key}`, profileIds, CHUNK);
  try {
    await during(passes, source.timing.warmUpS * 1000);
    const limit = source.limitPerProxy * world.options.proxies;
    const from = sampler.now();
    const cpu = process.cpuUsage();
    let recovery: Record<Change, number | null> | undefined;
    if (source.key === 'limit_changes') recovery = await limitChanges(world, passes, sampler, source);
    else await during(passes, source.timing.measureS * 1000);
    const to = sampler.now();
    const used = process.cpuUsage(cpu);
    const stretch = sampler.between(from, to);
    const report = await passes.stop();
    totals.checked += report.checked;
    totals.requests += world.sim.stats.requests;
    totals.rateLimited += world.sim.stats.rateLimited;
    return {
      share_of_limit: recovery ? null : round(stretch.okPerS / limit, 3),
      rate_limited_share: stretch.requests ? round(stretch.rateLimited / stretch.requests, 4) : 0,
      rate_limited_by: stretch.byCause,
      requests: stretch.requests,
      seconds: round(stretch.seconds, 1),
      ...(source.key === 'slow' ? { cpu_share: round((used.user + used.system) / 1000 / ((to - from) || 1), 4) } : {}),
      ...(recovery ? { recovery_s: recovery } : {}),
      learned_rate_per_s: await learnedRates(world),
    };
  } finally {
    sampler.stop();
    await passes.stop().catch(() => {});
  }
}

/** Waits `ms`, or less when the passes fail (their error is thrown). */
async function during(passes: Passes, ms: number): Promise<void> {
  await Promise.race([sleep(ms), passes.failed]);
}

/**
 * Halves the bucket's rate, doubles it back, lifts it; after each change, waits until the requests answered
 * other than 429 over the last 3 s reach 0.8 of the new limit (then 5 s more), at most 120 s. Seconds to get
 * there, per change (null: not within 120 s).
 */
async function limitChanges(world: World, passes: Passes, sampler: Sampler, source: Source): Promise<Record<Change, number | null>> {
  const r = source.rate;
  const proxies = world.options.proxies;
  const steps: Record<Change, { rate: number; target: number }> = {
    halved: { rate: r / 2, target: (r / 2) * proxies },
    doubled: { rate: r, target: r * proxies },
    // no limit: the pace must at least double the last limit
    lifted: { rate: 0, target: 2 * r * proxies },
  };
  const out = {} as Record<Change, number | null>;
  for (const change of CHANGES) {
    const step = steps[change];
    world.sim.setOptions({ ratePerSecond: step.rate, burst: Math.max(1, Math.ceil(step.rate)) });
    const at = sampler.now();
    out[change] = null;
    while (sampler.now() - at < CHANGE_LIMIT_MS) {
      await during(passes, 250);
      const now = sampler.now();
      if (now - at < ROLLING_MS) continue;
      if (sampler.between(now - ROLLING_MS, now).okPerS >= 0.8 * step.target) {
        out[change] = round((now - at) / 1000, 1);
        await during(passes, AFTER_RECOVERY_MS);
        break;
      }
    }
  }
  return out;
}

/**
 * The storm: a pass of STORM_REQUESTS stories requests with no limit and no storm (the calm time), then from a
 * cold start a pass with the storm to warm up and one measured. Every profile exists: a failed one is wrongly failed.
 */
const runStorm: SourceRunner = async (world, spec, source, profileIds, totals) => {
  const ids = profileIds.slice(0, (world.options.quick ? STORM_REQUESTS.quick : STORM_REQUESTS.full) * CHUNK);
  const limitMs = 600_000;
  const pass = async (name: string) => {
    const batch = await runningBatch(world, name, 0, ids);
    const run = await runWorkflow(world, { ...spec, name: spec.name, chunkSize: CHUNK }, batch, limitMs);
    const [row] = await world.db.sql<{ failed: number }[]>`select failed_checks as failed from batches where id = ${batch.batchId}`;
    totals.checked += ids.length;
    return { seconds: run.seconds, failed: row?.failed ?? 0 };
  };
  await resetWorld(world, { ...specFor(spec, source), source: {} });
  const calm = await pass(`${spec.name} storm (calm)`);
  totals.requests += world.sim.stats.requests;
  await resetWorld(world, specFor(spec, source));
  const warm = await pass(`${spec.name} storm (warm-up)`);
  world.sim.reset();
  const stormy = await pass(`${spec.name} storm`);
  const stats = world.sim.stats;
  totals.requests += stats.requests;
  totals.rateLimited += stats.rateLimited;
  return {
    share_of_limit: null,
    rate_limited_share: stats.requests ? round(stats.rateLimited / stats.requests, 4) : 0,
    rate_limited_by: { ...stats.rateLimitedBy },
    requests: stats.requests,
    seconds: round(stormy.seconds, 2),
    time_ratio: round(stormy.seconds / calm.seconds, 2),
    wrongly_failed: warm.failed + stormy.failed,
    learned_rate_per_s: await learnedRates(world),
  };
}

async function learnedRates(world: World): Promise<Array<number | null>> {
  const rows = await world.db.sql<{ r: number | null }[]>`select learned_rate_per_s as r from proxies where status <> 'disabled' order by url`;
  return rows.map((row) => (row.r === null ? null : round(row.r, 2)));
}
