/**
 * The scenarios of the benchmark and the figures of each.
 *
 * Scenarios (names are contract), all over the same N profiles:
 * - first_check      ids not cached: one lookup per profile plus one stories request per 50.
 * - recheck          the same profiles again, ids cached: stories requests only, 50 ids each.
 * - zero_latency     recheck with the simulator's latency at 0: what is left is the system's own overhead.
 * - in_process       recheck through the same checker (`createChecker(...).checkChunk`) as a plain loop,
 *                    without Temporal: concurrency = proxies, `RetryLater` handled by waiting its delay (or
 *                    the configured backoff). The difference to `recheck` is what Temporal costs.
 * - one_per_request  recheck with CHECK_CHUNK_SIZE=1: one profile per stories request (what batching buys).
 * - scale_100k       a batch of 100,000 new usernames created over HTTP under queue transitions, then run with
 *                    no rate limit and no latency (bench/scale.ts has its figures); not over the N profiles.
 * With `--experiments`, also (not contract; they explain the gap):
 * - unlimited, unlimited_one_per_request: no rate limit, no latency: the system's own ceiling.
 * - in_process_one_per_request: one_per_request without Temporal (Temporal's cost per chunk).
 * - paced_first_check, paced_recheck, paced_one_per_request: the client spaces requests through each proxy
 *   1/rate (+5 ms) apart, in memory (bench-only), instead of discovering the limit by 429s and 1 s rests.
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
import type { Sql } from '../src/db.js';
import { failBatch } from '../src/repos/queue.js';
import type { SimulatorStats } from '../src/simulator/app.js';
import {
  idealChecksPerSecond,
  idealSeconds,
  idealWithBurst,
  requestsNeeded,
  round,
  scenarioTimeLimitS,
  type BenchOptions,
  type ScenarioFigures,
  type ScenarioName,
  type ScenarioSpec,
  type Workload,
} from './figures.js';
import { runInProcess, runWorkflow, type Run } from './runs.js';
import { cacheUserIds, clearUserIds, resetWorld, runningBatch, say, type World } from './world.js';

const MAX_CHUNK = 50;


export function specs(o: BenchOptions): Record<ScenarioName, ScenarioSpec> {
  const base = { latencyMs: o.latencyMs, rate: o.rate, chunkSize: MAX_CHUNK, lookups: false, mode: 'workflow' as const, paced: false };
  const unlimited = { latencyMs: 0, rate: 0 };
  return {
    first_check: { ...base, name: 'first_check', lookups: true },
    recheck: { ...base, name: 'recheck' },
    zero_latency: { ...base, name: 'zero_latency', latencyMs: 0 },
    in_process: { ...base, name: 'in_process', mode: 'in_process' },
    one_per_request: { ...base, name: 'one_per_request', chunkSize: 1 },
    unlimited: { ...base, ...unlimited, name: 'unlimited' },
    unlimited_one_per_request: { ...base, ...unlimited, name: 'unlimited_one_per_request', chunkSize: 1 },
    in_process_one_per_request: { ...base, name: 'in_process_one_per_request', chunkSize: 1, mode: 'in_process' },
    paced_first_check: { ...base, name: 'paced_first_check', lookups: true, paced: true },
    paced_recheck: { ...base, name: 'paced_recheck', paced: true },
    paced_one_per_request: { ...base, name: 'paced_one_per_request', chunkSize: 1, paced: true },
    storm_first_check: { ...base, name: 'storm_first_check', lookups: true, paced: true, storm: true },
    // no rate limit and no latency: the batch's own cost at 100k profiles (bench/scale.ts)
    scale_100k: { ...base, ...unlimited, name: 'scale_100k' },
  };
}

interface BatchFacts {
  status: string;
  successful: number;
  failed: number;
  events: Record<string, number>;
  restS: number;
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

export async function runScenario(world: World, spec: ScenarioSpec): Promise<ScenarioFigures> {
  const o = world.options;
  const workload: Workload = { profiles: world.profileIds.length, chunkSize: spec.chunkSize, lookups: spec.lookups };
  const limited = spec.rate > 0;
  const ideal = limited ? idealChecksPerSecond(workload, o.proxies, spec.rate) : null;
  const limitS = scenarioTimeLimitS(limited ? idealSeconds(workload, o.proxies, spec.rate) : 20, o.timeLimitS);
  say(
    `${spec.name}: ${workload.profiles} profiles, ${spec.chunkSize} per request, ids ${spec.lookups ? 'not cached' : 'cached'}, ` +
      `latency ${spec.latencyMs} ms, ${limited ? `${spec.rate}/s per proxy (burst ${o.burst}), ideal ${round(ideal!, 1)} checks/s` : 'no rate limit'}` +
      `${spec.paced ? ', paced' : ''}; time limit ${limitS} s`,
  );

  if (spec.lookups) await clearUserIds(world);
  await resetWorld(world, spec);
  const batch = await runningBatch(world, spec.name);
  let run: Run;
  try {
    run =
      spec.mode === 'in_process'
        ? await runInProcess(world, spec.name, world.deps.checker, batch, spec.chunkSize, o.proxies, limitS * 1000)
        : await runWorkflow(world, spec, batch, limitS * 1000);
  } catch (err) {
    // frees the runner for the next scenario (claimNextBatch would hand this batch out again)
    if (!world.interrupted.aborted) await failBatch(world.db.sql, batch.batchId, `benchmark: ${(err as Error).message}`).catch(() => {});
    throw err;
  } finally {
    // later re-checks must never pay lookups, even after a failure
    if (spec.lookups && !world.interrupted.aborted) await cacheUserIds(world);
  }
  const stats = snapshot(world.sim.stats);
  const probe = { ...world.probe };
  const rss = process.memoryUsage().rss;
  const facts = await batchFacts(world.db.sql, batch.batchId);
  if (facts.status !== 'done' || facts.successful !== workload.profiles) {
    throw new Error(`batch ended ${facts.status} with ${facts.successful}/${workload.profiles} checked, ${facts.failed} failed`);
  }
  const checksPerS = workload.profiles / run.seconds;
  const needed = requestsNeeded(workload);
  const figures: ScenarioFigures = {
    name: spec.name,
    profiles: workload.profiles,
    proxies: o.proxies,
    per_proxy_rate: spec.rate,
    latency_ms: spec.latencyMs,
    seconds: round(run.seconds, 2),
    checks_per_s: round(checksPerS, 1),
    ideal_checks_per_s: ideal === null ? null : round(ideal, 1),
    ratio_to_ideal: ideal === null ? null : round(checksPerS / ideal, 3),
    upstream_requests_per_profile: round(stats.requests / workload.profiles, 4),
    max_history_events: run.historyLengths ? Math.max(...run.historyLengths) : null,
    worker_rss_mb: round(rss / 2 ** 20, 0),
    // extras: what the time went on
    mode: spec.mode === 'in_process' ? 'in_process' : 'temporal',
    paced: spec.paced,
    burst: limited ? o.burst : null,
    chunk_size: spec.chunkSize,
    concurrency: spec.mode === 'in_process' ? o.proxies : o.concurrency,
    ideal_seconds: limited ? round(idealSeconds(workload, o.proxies, spec.rate), 2) : null,
    ideal_with_burst_checks_per_s: limited ? roundOrNull(idealWithBurst(workload, o.proxies, spec.rate, o.burst), 1) : null,
    requests_needed: needed,
    requests: stats.requests,
    rate_limited: stats.rateLimited,
    ok_requests_per_profile: round((stats.requests - stats.rateLimited) / workload.profiles, 4),
    requests_by_endpoint: stats.byEndpoint,
    requests_by_proxy: Object.values(stats.byClientAddress),
    max_reel_ids_per_request: stats.maxReelIdsPerRequest,
    upstream_connections: stats.connections,
    proxy_rest_s: facts.restS,
    check_retries: facts.events.CHECK_RETRY ?? 0,
    leases: probe.leases,
    lease_hold_ms_avg: probe.leases ? round(probe.holdMs / probe.leases, 1) : null,
    upstream_ms_avg: probe.requests ? round(probe.requestMs / probe.requests, 1) : null,
    lease_call_ms_avg: probe.leases ? round(probe.leaseCallMs / probe.leases, 1) : null,
    release_call_ms_avg: probe.leases ? round(probe.releaseCallMs / probe.leases, 1) : null,
    /** Share of the proxies' time (P × seconds) spent leased; the rest they sat idle or resting. */
    proxy_leased_share: round(probe.holdMs / (o.proxies * run.seconds * 1000), 3),
    /** Share of the leased time spent waiting for upstream answers; the rest is Postgres work under the lease. */
    upstream_share_of_lease: probe.holdMs ? round(probe.requestMs / probe.holdMs, 3) : null,
    workflow_runs: run.runs,
    history_events_per_run: run.historyLengths,
    ...(run.retryLater !== undefined ? { retry_later: run.retryLater } : {}),
  };
  say(
    `  ${spec.name}: ${figures.seconds} s, ${figures.checks_per_s} checks/s` +
      (ideal !== null ? ` (${figures.ratio_to_ideal} of ideal)` : '') +
      `; ${stats.requests} requests, ${stats.rateLimited} rate limited, proxies rested ${facts.restS} s, ` +
      `lease held ${figures.lease_hold_ms_avg} ms avg (upstream ${figures.upstream_ms_avg} ms avg)`,
  );
  return figures;
}

function roundOrNull(value: number | null, digits: number): number | null {
  return value === null ? null : round(value, digits);
}

function snapshot(stats: SimulatorStats) {
  return {
    requests: stats.requests,
    rateLimited: stats.rateLimited,
    byEndpoint: { ...stats.byEndpoint },
    byClientAddress: { ...stats.byClientAddress },
    maxReelIdsPerRequest: stats.maxReelIdsPerRequest,
    connections: stats.connections,
  };
}
