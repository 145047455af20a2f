/**
 * The figures of a scenario run by bench/scenarios.ts, from its measured passes: the summary table's columns,
 * then what the time went on (the source's counts, the batch's facts, the stopwatch of bench/probe.ts), and the
 * lines said about them on stderr. The header of bench/scenarios.ts says what each figure means.
 */
import type { Sql } from '../src/db/sql.js';
import type { SimulatorStats } from '../src/simulator/app.js';
import {
  idealSeconds,
  idealWithBurst,
  requestsNeeded,
  round,
  type BenchOptions,
  type ScenarioFigures,
  type ScenarioSpec,
  type Workload,
} from './figures.js';
import type { Probe } from './probe.js';
import type { ChunkTimings, Run } from './runs.js';
import { say, type World } from './world.js';

/** What a batch recorded of its run. */
export interface BatchFacts {
  status: string;
  successful: number;
  failed: number;
  events: Record<string, number>;
  restS: number;
}

/** The passes before the measured ones (learned_pacing), and what the source answered them. */
export interface WarmUp {
  passes: number;
  seconds: number;
  requests: number;
  rateLimited: number;
}

/** What a scenario's measured passes came to. */
export interface Measurement {
  /** Every measured pass's workload together. */
  workload: Workload;
  /** Whether a rate limit bounds the scenario (the ideal is null otherwise). */
  limited: boolean;
  ideal: number | null;
  /** The measured passes as one run. */
  run: Run;
  facts: BatchFacts;
  /** The first measured pass's batch. */
  batchId: string;
  passes: number;
  warmUp: WarmUp | null;
}

type SourceCounts = ReturnType<typeof snapshot>;
type ProbeTimes = Pick<Probe, 'requests' | 'requestMs' | 'leases' | 'leaseCallMs' | 'holdMs' | 'releaseCallMs' | 'sendWaitMs'>;

/** The scenario's figures, read as soon as its last pass ended (the RSS among them). */
export async function scenarioFigures(world: World, spec: ScenarioSpec, m: Measurement): Promise<ScenarioFigures> {
  const stats = snapshot(world.sim.stats);
  const probe: ProbeTimes = { ...world.probe };
  const rss = process.memoryUsage().rss;
  return {
    ...tableFigures(world.options, spec, m, stats.requests, rss),
    ...boundFigures(world.options, spec, m),
    ...sourceFigures(stats, m.workload.profiles),
    proxy_rest_s: m.facts.restS,
    check_retries: m.facts.events.CHECK_RETRY ?? 0,
    ...probeFigures(probe, world.options.proxies, m.run.seconds),
    workflow_runs: m.run.runs,
    history_events_per_run: m.run.historyLengths,
    ...(m.run.retryLater !== undefined ? { retry_later: m.run.retryLater } : {}),
    ...(spec.maxAgeS ? { max_age_s: spec.maxAgeS, from_cache: await fromCache(world.db.sql, m.batchId) } : {}),
    ...(m.run.chunkTimings ? { time_per_chunk_ms: timePerChunk(m.run.chunkTimings, probe) } : {}),
    ...(m.warmUp
      ? {
          passes: m.passes,
          warm_up: m.warmUp,
          rate_limited_share: stats.requests ? round(stats.rateLimited / stats.requests, 4) : 0,
          learned_rate_per_s: await learnedRates(world.db.sql),
        }
      : {}),
  };
}

/** The summary table's columns. */
function tableFigures(o: BenchOptions, spec: ScenarioSpec, { workload, ideal, run }: Measurement, requests: number, rss: number): ScenarioFigures {
  const checksPerS = workload.profiles / run.seconds;
  return {
    name: spec.name,
    profiles: workload.profiles,
    proxies: o.proxies,
    per_proxy_rate: spec.rate,
    latency_ms: spec.latencyMs,
    seconds: round(run.seconds, 2),
    checks_per_s: round(checksPerS, 1),
    ideal_checks_per_s: ideal === null ? null : round(ideal, 1),
    ratio_to_ideal: ideal === null ? null : round(checksPerS / ideal, 3),
    upstream_requests_per_profile: round(requests / workload.profiles, 4),
    max_history_events: run.historyLengths ? Math.max(...run.historyLengths) : null,
    worker_rss_mb: round(rss / 2 ** 20, 0),
  };
}

/** How the scenario ran, and what bounded it. */
function boundFigures(o: BenchOptions, spec: ScenarioSpec, { workload, limited }: Measurement) {
  const burst = spec.burst ?? o.burst;
  return {
    mode: spec.mode === 'in_process' ? 'in_process' : 'temporal',
    paced: spec.paced,
    burst: limited ? burst : null,
    chunk_size: spec.chunkSize,
    concurrency: o.concurrency,
    ideal_seconds: limited ? round(idealSeconds(workload, o.proxies, spec.rate), 2) : null,
    ideal_with_burst_checks_per_s: limited ? roundOrNull(idealWithBurst(workload, o.proxies, spec.rate, burst), 1) : null,
    requests_needed: requestsNeeded(workload),
  };
}

/** What the simulator received. */
function sourceFigures(stats: SourceCounts, profiles: number) {
  return {
    requests: stats.requests,
    rate_limited: stats.rateLimited,
    ok_requests_per_profile: round((stats.requests - stats.rateLimited) / profiles, 4),
    requests_by_endpoint: stats.byEndpoint,
    requests_by_proxy: Object.values(stats.byClientAddress),
    max_reel_ids_per_request: stats.maxReelIdsPerRequest,
    upstream_connections: stats.connections,
  };
}

/** The stopwatch's: how long leases were held, and what for. */
function probeFigures(probe: ProbeTimes, proxies: number, seconds: number) {
  return {
    leases: probe.leases,
    lease_hold_ms_avg: probe.leases ? round(probe.holdMs / probe.leases, 1) : null,
    upstream_ms_avg: probe.requests ? round(probe.requestMs / probe.requests, 1) : null,
    lease_call_ms_avg: probe.leases ? round(probe.leaseCallMs / probe.leases, 1) : null,
    release_call_ms_avg: probe.leases ? round(probe.releaseCallMs / probe.leases, 1) : null,
    /** Share of the proxies' time (P × seconds) spent leased; the rest they sat idle or resting. */
    proxy_leased_share: round(probe.holdMs / (proxies * seconds * 1000), 3),
    /** Share of the leased time spent waiting for upstream answers; the rest is Postgres work under the lease. */
    upstream_share_of_lease: probe.holdMs ? round(probe.requestMs / probe.holdMs, 3) : null,
  };
}

/** The lines said on stderr once a scenario is over. */
export function reportScenario(figures: ScenarioFigures, { facts, warmUp }: Measurement): void {
  const name = figures.name;
  say(
    `  ${name}: ${figures.seconds} s, ${figures.checks_per_s} checks/s` +
      (figures.ideal_checks_per_s !== null ? ` (${figures.ratio_to_ideal} of ideal)` : '') +
      `; ${figures.requests as number} requests, ${figures.rate_limited as number} rate limited, proxies rested ${facts.restS} s, ` +
      `lease held ${figures.lease_hold_ms_avg as number | null} ms avg (upstream ${figures.upstream_ms_avg as number | null} ms avg)`,
  );
  if (warmUp) {
    say(
      `  ${name}: after a warm-up of ${warmUp.seconds} s (${warmUp.rateLimited} of ${warmUp.requests} requests rate limited), ` +
        `${figures.rate_limited_share as number} of requests rate limited; learned ${JSON.stringify(figures.learned_rate_per_s)} per s`,
    );
  }
  if (figures.time_per_chunk_ms) say(`  ${name}: per chunk, ms: ${JSON.stringify(figures.time_per_chunk_ms)}`);
}

async function fromCache(sql: Sql, batchId: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from batch_profiles where batch_id = ${batchId} and source = 'cache'`;
  return row?.n ?? 0;
}

/**
 * Where a chunk's time goes, in ms per chunk: waiting for a send slot (taking it and waiting for its send
 * time), the upstream's answers, Postgres and the rest of the activity's own work, and Temporal's dispatch
 * (the activity task's way to a worker, and the workflow's turn to react to its completion).
 */
function timePerChunk(t: ChunkTimings, probe: ProbeTimes) {
  if (!t.chunks) return null;
  const per = (ms: number) => round(ms / t.chunks, 1);
  const slot = per(probe.leaseCallMs + probe.sendWaitMs);
  const upstream = per(probe.requestMs);
  return {
    chunks: t.chunks,
    slot_wait: slot,
    upstream,
    sql_and_activity: round(Math.max(0, t.startToCloseMs - slot - upstream), 1),
    temporal_dispatch: round(t.scheduleToStartMs + t.completionToNextTaskMs, 1),
    schedule_to_start: t.scheduleToStartMs,
    completion_to_next_task: t.completionToNextTaskMs,
    activity_total: t.startToCloseMs,
  };
}

async function learnedRates(sql: Sql): Promise<Array<number | null>> {
  const rows = await sql<{ r: number | null }[]>`select learned_rate_per_s as r from proxies order by url`;
  return rows.map((row) => (row.r === null ? null : round(row.r, 2)));
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
