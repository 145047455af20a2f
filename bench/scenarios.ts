/**
 * The scenarios of the benchmark and the figures of each.
 *
 * Scenarios (names are contract), all over the same N profiles:
 * - first_check      ids not cached: one lookup per profile plus one stories request per 50.
 * - recheck          the same profiles again, ids cached: stories requests only, 50 ids each.
 * - zero_latency     recheck with the simulator's latency at 0: what is left is the system's own overhead.
 * - in_process       recheck through the same checker (`createChecker(...).checkChunk`) as a plain loop,
 *                    without Temporal: concurrency = BATCH_CONCURRENCY, `RetryLater` handled by waiting its delay (or
 *                    the configured backoff). The difference to `recheck` is what Temporal costs.
 * - one_per_request  recheck with CHECK_CHUNK_SIZE=1: one profile per stories request (what batching buys).
 * - recheck_cached   recheck with max_age_s covering the previous check: every profile is answered from its
 *                    recent result, so no upstream request is sent (when no scenario before it checked the
 *                    profiles, an untimed in-process recheck does first). No rate limit bounds it: no ideal.
 * - learned_pacing   recheck with no pacing configured and nothing learned, against a source allowing a
 *                    quarter of the rate (so its limit binds, not the system's own speed): passes of the
 *                    workload for 15 s of warm-up (the proxies learn the source's rate from its 429s), then
 *                    passes for 30 s, measured together, with the share of requests answered 429
 *                    (rate_limited_share).
 * - pacing_matrix    learned pacing from a cold start against seven kinds of source (a token bucket, a fixed
 *                    window, a sliding one, a storm of random 429s alone and on a bucket, a slow source, a limit
 *                    that changes), three runs each: bench/pacing-matrix.ts has them and their figures.
 * - realistic        a first check against the simulator's realistic profile, time-scaled, through 10 proxies
 *                    and 4 sessions: bench/realistic.ts.
 * - where_the_time_goes  recheck, with the time of a chunk split (time_per_chunk_ms): waiting for a send slot,
 *                    upstream, SQL and the activity's own work, Temporal dispatch (every workflow scenario
 *                    carries the same split; this one is measured for it).
 * - scale_100k       a batch of 100,000 new usernames created over HTTP under queue transitions, then run with
 *                    no rate limit and no latency (bench/scale.ts has its figures); not over the N profiles.
 * - api_load         the API as a process of its own under three phases of load (creates, reads, a mix with SSE
 *                    subscribers) while a re-check of the N profiles runs at a reduced, paced rate, and the same
 *                    re-check unloaded (bench/api-load.ts has its figures; the rate and chunk size are its own,
 *                    bench/api-load-plan.ts).
 * - export_100k      a batch of 100,000 seeded profiles downloaded from the API as CSV and as NDJSON: rows, bytes,
 *                    first byte, total time and the API's heap growth (bench/export.ts); no check runs.
 * - watch_fanout     a watch every 30 s over a niche of 20,000 profiles whose stories post often, with 10 webhook
 *                    endpoints for story.posted: first sighting to delivery (p50, p99), deliveries per second,
 *                    duplicates, the batches' times (bench/watch-fanout.ts); a worker process runs it.
 * With `--experiments`, also (not contract; they explain the gap):
 * - unlimited, unlimited_one_per_request: no rate limit, no latency: the system's own ceiling.
 * - in_process_one_per_request: one_per_request without Temporal (Temporal's cost per chunk).
 * - paced_first_check, paced_recheck, paced_one_per_request: PROXY_MIN_INTERVAL_MS set to 1/rate (+15 ms),
 *   so the limit is known from the first request on instead of being learned from 429s.
 *
 * The ideal (bench/figures.ts): every request costs its proxy one token, so P proxies at r requests/s answer
 * at most P·r requests/s. N profiles in stories requests of k ids need L + ceil(N/k) requests (L = N lookups
 * on a first check, else 0), so
 *     ideal_checks_per_s = N · P · r / (L + ceil(N/k))
 *   = P · r · k             re-check (recheck, zero_latency, in_process; k = 50)
 *   = P · r / (1 + 1/k)     first check
 *   = P · r                 one profile per request (k = 1)
 * and ratio_to_ideal = checks_per_s / ideal_checks_per_s. A bucket of B tokens lets an idle proxy send B
 * requests at once, so a short scenario may beat the sustained bound (ratio > 1); ideal_with_burst_checks_per_s
 * is the exact token-bucket bound N·r / (ceil(R/P) − B) (null when everything fits in the initial burst).
 * Latency does not enter the bound as long as concurrency ≥ proxies and latency < 1/r (a proxy then carries
 * r requests/s even one request at a time).
 *
 * Other figures: upstream_requests_per_profile = every request the simulator received (429s included) per
 * profile; rate_limited = 429s; proxy_rest_s = the rests the pool imposed after 429s (sum of Retry-After);
 * max_history_events = the longest history over all runs of the batch workflow (continue-as-new makes
 * several: the chain is followed run by run); worker_rss_mb = this process's RSS after the scenario (worker,
 * simulator and proxies together; the Temporal server is a separate process).
 */
import { performance } from 'node:perf_hooks';
import type { Sql } from '../src/db/sql.js';
import {
  idealChecksPerSecond,
  idealSeconds,
  round,
  scenarioTimeLimitS,
  type BenchOptions,
  type ScenarioFigures,
  type ScenarioName,
  type ScenarioSpec,
  type Workload,
} from './figures.js';
import { apiLoadBatch, BATCH_BURST } from './api-load-plan.js';
import { releaseFailedBatch, runInProcess, runWorkflow, type ChunkTimings, type Run } from './runs.js';
import { reportScenario, scenarioFigures, type BatchFacts, type Measurement, type WarmUp } from './scenario-figures.js';
import { cacheUserIds, clearUserIds, resetWorld, runningBatch, say, type World } from './world.js';

const MAX_CHUNK = 50;
/** recheck_cached's max_age_s: covers any previous scenario of the same run. */
const RECENT_S = 3600;


export function specs(o: BenchOptions): Record<ScenarioName, ScenarioSpec> {
  const base = { latencyMs: o.latencyMs, rate: o.rate, chunkSize: MAX_CHUNK, lookups: false, mode: 'workflow' as const, paced: false };
  const unlimited = { latencyMs: 0, rate: 0 };
  const apiLoad = apiLoadBatch(o.profiles, o.proxies);
  return {
    first_check: { ...base, name: 'first_check', lookups: true },
    recheck: { ...base, name: 'recheck' },
    zero_latency: { ...base, name: 'zero_latency', latencyMs: 0 },
    in_process: { ...base, name: 'in_process', mode: 'in_process' },
    one_per_request: { ...base, name: 'one_per_request', chunkSize: 1 },
    recheck_cached: { ...base, name: 'recheck_cached', maxAgeS: RECENT_S },
    // no pacing configured (PROXY_MIN_INTERVAL_MS unset) and nothing learned yet: the proxies learn the rate
    // against a source four times stricter, so that its limit binds rather than the system's own speed
    learned_pacing: { ...base, name: 'learned_pacing', rate: o.rate / 4, burst: Math.max(1, Math.ceil(o.rate / 4)), coldStart: true, passes: { warmUpS: 15, measureS: 30 } },
    // seven kinds of source, each from a cold start (bench/pacing-matrix.ts has them)
    pacing_matrix: { ...base, name: 'pacing_matrix', coldStart: true },
    // a first check against the realistic source, time-scaled (bench/realistic.ts)
    realistic: { ...base, name: 'realistic', lookups: true, rate: 0, coldStart: true },
    where_the_time_goes: { ...base, name: 'where_the_time_goes' },
    // a re-check paced at a rate low enough that the limit binds, not the CPU the load takes (bench/api-load-plan.ts)
    api_load: { ...base, name: 'api_load', rate: apiLoad.rate, burst: BATCH_BURST, chunkSize: apiLoad.chunkSize, paced: true, coldStart: true },
    unlimited: { ...base, ...unlimited, name: 'unlimited' },
    unlimited_one_per_request: { ...base, ...unlimited, name: 'unlimited_one_per_request', chunkSize: 1 },
    in_process_one_per_request: { ...base, name: 'in_process_one_per_request', chunkSize: 1, mode: 'in_process' },
    paced_first_check: { ...base, name: 'paced_first_check', lookups: true, paced: true },
    paced_recheck: { ...base, name: 'paced_recheck', paced: true },
    paced_one_per_request: { ...base, name: 'paced_one_per_request', chunkSize: 1, paced: true },
    storm_first_check: { ...base, name: 'storm_first_check', lookups: true, paced: true, storm: true },
    // no rate limit and no latency: the batch's own cost at 100k profiles (bench/scale.ts)
    scale_100k: { ...base, ...unlimited, name: 'scale_100k' },
    // no check at all: a batch's export downloaded whole (bench/export.ts)
    export_100k: { ...base, ...unlimited, name: 'export_100k' },
    // a watch's batches at no rate limit and no latency, their new stories sent to 10 endpoints (bench/watch-fanout.ts)
    watch_fanout: { ...base, ...unlimited, name: 'watch_fanout' },
  };
}

/** A scenario's bounds: its workload, whether a rate limit bounds it, its ideal and its time limit. */
interface Bounds {
  workload: Workload;
  limited: boolean;
  ideal: number | null;
  limitS: number;
}

function scenarioBounds(world: World, spec: ScenarioSpec): Bounds {
  const o = world.options;
  const workload: Workload = { profiles: world.profileIds.length, chunkSize: spec.chunkSize, lookups: spec.lookups };
  // answers from the cache cost no request, so no rate limit bounds them
  const limited = spec.rate > 0 && !spec.maxAgeS;
  const ideal = limited ? idealChecksPerSecond(workload, o.proxies, spec.rate) : null;
  const limitS = scenarioTimeLimitS(limited ? idealSeconds(workload, o.proxies, spec.rate) : 20, o.timeLimitS);
  return { workload, limited, ideal, limitS };
}

function announce(world: World, spec: ScenarioSpec, { workload, limited, ideal, limitS }: Bounds): void {
  const o = world.options;
  say(
    `${spec.name}: ${workload.profiles} profiles, ${spec.chunkSize} per request, ids ${spec.lookups ? 'not cached' : 'cached'}, ` +
      `latency ${spec.latencyMs} ms, ${limited ? `${spec.rate}/s per proxy (burst ${spec.burst ?? o.burst}), ideal ${round(ideal!, 1)} checks/s` : 'no rate limit'}` +
      `${spec.paced ? ', paced' : ''}; time limit ${limitS} s`,
  );
}

export async function runScenario(world: World, spec: ScenarioSpec): Promise<ScenarioFigures> {
  const bounds = scenarioBounds(world, spec);
  announce(world, spec, bounds);
  if (spec.lookups) await clearUserIds(world);
  if (spec.maxAgeS) await ensureRecentResults(world, spec, bounds.limitS * 1000);
  await resetWorld(world, spec);
  const pass = () => runPass(world, spec, bounds.workload.profiles, bounds.limitS);

  const warmUp = spec.passes ? await warmUpPasses(world, spec.passes.warmUpS, pass) : null;
  const measured = await measuredPasses(spec.passes?.measureS ?? 0, pass);
  const measurement: Measurement = {
    ...combinePasses(measured),
    workload: { ...bounds.workload, profiles: bounds.workload.profiles * measured.length },
    limited: bounds.limited,
    ideal: bounds.ideal,
    batchId: measured[0]!.batch.batchId,
    passes: measured.length,
    warmUp,
  };
  const figures = await scenarioFigures(world, spec, measurement);
  reportScenario(figures, measurement);
  return figures;
}

/** One pass of the workload: a batch over every profile, run to its end, and what it recorded. */
interface Pass {
  batch: { batchId: string; workflowId: string };
  run: Run;
  facts: BatchFacts;
}

async function runPass(world: World, spec: ScenarioSpec, profiles: number, limitS: number): Promise<Pass> {
  const batch = await runningBatch(world, spec.name, spec.maxAgeS);
  let run: Run;
  try {
    run =
      spec.mode === 'in_process'
        ? await runInProcess(world, spec.name, world.deps.checker, batch, spec.chunkSize, world.options.concurrency, limitS * 1000)
        : await runWorkflow(world, spec, batch, limitS * 1000);
  } catch (err) {
    await releaseFailedBatch(world, batch.batchId, err);
    throw err;
  } finally {
    // later re-checks must never pay lookups, even after a failure
    if (spec.lookups && !world.interrupted.aborted) await cacheUserIds(world);
  }
  const facts = await batchFacts(world.db.sql, batch.batchId);
  if (facts.status !== 'done' || facts.successful !== profiles) {
    throw new Error(`batch ended ${facts.status} with ${facts.successful}/${profiles} checked, ${facts.failed} failed`);
  }
  return { batch, run, facts };
}

async function batchFacts(sql: Sql, batchId: string): Promise<BatchFacts> {
  const [batch] = await sql<{ status: string; successful_checks: number; failed_checks: number }[]>`
    select status, successful_checks, failed_checks from batches where id = ${batchId}`;
  const events = await sql<{ event_type: string; n: number }[]>`
    select event_type, count(*)::int as n from batch_logs where batch_id = ${batchId} group by event_type`;
  const [rest] = await sql<{ ms: number | null }[]>`
    select sum((details->>'retry_after_ms')::float8) as ms from batch_logs
    where batch_id = ${batchId} and event_type = 'PROXY_COOLDOWN'`;
  return {
    status: batch?.status ?? 'missing',
    successful: batch?.successful_checks ?? 0,
    failed: batch?.failed_checks ?? 0,
    events: Object.fromEntries(events.map((e) => [e.event_type, e.n])),
    restS: round((rest?.ms ?? 0) / 1000, 1),
  };
}

/** Passes for `warmUpS` seconds (one at the least), not measured: the proxies start from nothing learned and find the source's rate. */
async function warmUpPasses(world: World, warmUpS: number, pass: () => Promise<Pass>): Promise<WarmUp> {
  const started = performance.now();
  let passes = 0;
  while (passes === 0 || (performance.now() - started) / 1000 < warmUpS) {
    await pass();
    passes++;
  }
  const warmUp = { passes, seconds: round((performance.now() - started) / 1000, 2), requests: world.sim.stats.requests, rateLimited: world.sim.stats.rateLimited };
  world.sim.reset();
  world.probe.reset();
  return warmUp;
}

/** One pass, then more until together they took `measureS` seconds. */
async function measuredPasses(measureS: number, pass: () => Promise<Pass>): Promise<Pass[]> {
  const measured = [await pass()];
  while (measured.reduce((sum, m) => sum + m.run.seconds, 0) < measureS) measured.push(await pass());
  return measured;
}

/** The measured passes as one run: their times added, their chunk timings and facts merged. */
function combinePasses(measured: readonly Pass[]): { run: Run; facts: BatchFacts } {
  const first = measured[0]!.run;
  const run: Run = {
    seconds: measured.reduce((sum, m) => sum + m.run.seconds, 0),
    runs: first.runs,
    historyLengths: measured.some((m) => m.run.historyLengths) ? measured.flatMap((m) => m.run.historyLengths ?? []) : null,
    ...(first.chunkTimings ? { chunkTimings: mergeTimings(measured.map((m) => m.run.chunkTimings!)) } : {}),
    ...(first.retryLater !== undefined ? { retryLater: measured.reduce((sum, m) => sum + (m.run.retryLater ?? 0), 0) } : {}),
  };
  const facts = measured.map((m) => m.facts).reduce((a, b) => ({ ...a, restS: round(a.restS + b.restS, 1), events: sumCounts(a.events, b.events) }));
  return { run, facts };
}

/** The chunk timings of several runs as one: averages weighted by each run's chunks. */
function mergeTimings(all: ChunkTimings[]): ChunkTimings {
  const chunks = all.reduce((sum, t) => sum + t.chunks, 0);
  const avg = (key: Exclude<keyof ChunkTimings, 'chunks'>) =>
    chunks ? round(all.reduce((sum, t) => sum + t[key] * t.chunks, 0) / chunks, 1) : 0;
  return { chunks, scheduleToStartMs: avg('scheduleToStartMs'), startToCloseMs: avg('startToCloseMs'), completionToNextTaskMs: avg('completionToNextTaskMs') };
}

function sumCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Gives every profile an upstream result younger than the spec's max_age_s: an untimed recheck of those without. */
async function ensureRecentResults(world: World, spec: ScenarioSpec, limitMs: number): Promise<void> {
  const [row] = await world.db.sql<{ n: number }[]>`
    select count(*)::int as n from profiles p
    where p.id = any(${world.profileIds}::uuid[]) and not exists (
      select 1 from batch_profiles bp
      where bp.profile_id = p.id and bp.status = 'completed' and bp.source = 'upstream'
        and bp.checked_at > now() - ${spec.maxAgeS!}::int * interval '1 second')`;
  if (!row || row.n === 0) return;
  say(`  ${spec.name}: ${row.n} profiles have no recent result; an untimed recheck first`);
  await resetWorld(world, spec);
  const warmUp = await runningBatch(world, `${spec.name} (warm-up)`);
  await runInProcess(world, `${spec.name} (warm-up)`, world.deps.checker, warmUp, spec.chunkSize, world.options.proxies, limitMs);
}
