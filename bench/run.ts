/**
 * `npm run bench`: end-to-end throughput of checking profiles, against the physical limit set by per-proxy
 * rate limits. Prints a summary table on stdout (progress on stderr) and writes bench/results/latest.json
 * (OPERATIONS.md, "Benchmark output"). bench/README.md says how to read it.
 *
 * Everything is real and local, in this process unless said otherwise: a Postgres database of the
 * benchmark's own (random name, migrated, dropped at the end), the upstream simulator (UPSTREAM.md) with a
 * token bucket per client address (`rate` requests/s, `burst` tokens, default one second's worth, as the
 * simulator's own default) and a fixed latency, N forward proxies (Basic auth, each leaving from its own
 * loopback address, so each has its own bucket) registered in the proxies table, a Temporal dev server (a
 * child process: the `temporal` CLI of .temporal/venv, in memory, search attributes off) and a worker
 * (`createWorker`, the product's workflows and activities; BATCH_CONCURRENCY = proxies unless told).
 *
 * The worker's dependencies are the product's (`createCheckDependencies`), except that the story client and
 * the pool carry a stopwatch (Probe): the checker is `createChecker` over them, the same code. The stopwatch
 * tells where a scenario's time went (lease held vs upstream answer vs idle).
 *
 * Scenarios (names are contract), all over the same N profiles:
 * - first_check      ids not cached: one lookup per profile plus one stories request per 50.
 * - recheck          the same profiles again, ids cached: stories requests only, 50 ids each.
 * - zero_latency     recheck with the simulator's latency at 0: what is left is the system's own overhead.
 * - in_process       recheck through the same checker (`createChecker(...).checkChunk`) as a plain loop,
 *                    without Temporal: concurrency = proxies, `RetryLater` handled by waiting its delay (or
 *                    the configured backoff). The difference to `recheck` is what Temporal costs.
 * - one_per_request  recheck with CHECK_CHUNK_SIZE=1: one profile per stories request (what batching buys).
 * With `--experiments`, also (not contract; they explain the gap):
 * - unlimited, unlimited_one_per_request: no rate limit, no latency: the system's own ceiling.
 * - in_process_one_per_request: one_per_request without Temporal (Temporal's cost per chunk).
 * - paced_first_check, paced_recheck, paced_one_per_request: the client spaces requests through each proxy
 *   1/rate (+5 ms) apart, in memory (bench-only), instead of discovering the limit by 429s and 1 s rests.
 * Each workflow scenario creates a batch (createBatch), claims it (claimNextBatch) and runs BatchWorkflow
 * (workflows/batch.ts) to completion through the client, timed from start to result.
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
 *
 * Every wait is bounded (each scenario has a time limit, cleanup steps too) and everything started here is
 * stopped at the end, Ctrl-C included.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import postgres from 'postgres';
import { batchSettings } from '../activities/index.js';
import { ensureTemporalBinaries } from '../scripts/temporal-binaries.js';
import { createChecker, RetryLater, type Checker } from '../src/checker.js';
import { loadConfig, type Config } from '../src/config.js';
import { createSql, type Sql } from '../src/db.js';
import { createCheckDependencies, type CheckDependencies } from '../src/dependencies.js';
import { startForwardProxies, type ForwardProxies } from '../src/forward-proxies.js';
import { createLogger, setLogLevel } from '../src/logger.js';
import { migrate } from '../src/migrate.js';
import type { LeaseResult, ProxyPool } from '../src/pool.js';
import { nextChunks } from '../src/repos/batch-profiles.js';
import { claimNextBatch, completeBatch, createBatch, failBatch } from '../src/repos/batches.js';
import { upsertProfiles } from '../src/repos/profiles.js';
import { createProxy } from '../src/repos/proxies.js';
import { startSimulator, type RunningSimulator, type SimulatorStats } from '../src/simulator/app.js';
import { StoryClient, type ResolvedUser, type StoriesAnswer, type UpstreamTarget } from '../src/upstream/story-client.js';
import { createWorker, WORKFLOWS_PATH } from '../src/worker.js';
import { batchWorkflow } from '../workflows/batch.js';
import type { BatchResult } from '../workflows/types.js';
import {
  formatTable,
  idealChecksPerSecond,
  idealSeconds,
  idealWithBurst,
  parseOptions,
  requestsNeeded,
  round,
  scenarioTimeLimitS,
  UsageError,
  USAGE,
  type BenchOptions,
  type ScenarioFigures,
  type ScenarioName,
  type Workload,
} from './figures.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PROXY_USERNAME = 'bench-user';
const PROXY_PASSWORD = `bench-${randomBytes(6).toString('hex')}`;
const MAX_CHUNK = 50;
/** Pacing experiments: requests through one proxy at least 1/rate + this apart (a proxy hop adds jitter). */
const PACING_MARGIN_MS = 15;
/** Each cleanup step gets this long before the next one runs anyway. */
const CLEANUP_STEP_MS = 30_000;

const say = (line: string) => process.stderr.write(`${line}\n`);

class TimeLimitExceeded extends Error {
  override name = 'TimeLimitExceeded';
}

/** Resolves with `promise`, or rejects with TimeLimitExceeded after `ms` (the timer never holds the process). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeLimitExceeded(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Cleanup: every resource registers how to stop it; stopped in reverse order, each step bounded.

const closers: Array<{ name: string; close: () => Promise<unknown> }> = [];
const onCleanup = (name: string, close: () => Promise<unknown>) => closers.push({ name, close });
let cleaning: Promise<void> | null = null;
/** Set by Ctrl-C / SIGTERM: no further scenario starts and no results are written. */
let interrupted = false;
const interruption = new AbortController();

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    while (closers.length) {
      const { name, close } = closers.pop()!;
      try {
        await within(close(), CLEANUP_STEP_MS, `stopping ${name}`);
      } catch (err) {
        say(`cleanup: ${name}: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}

/** Keeps the Temporal SDK to errors, and leaves signals to us (so Ctrl-C runs our cleanup). */
function quietTemporalRuntime(): void {
  const level = (process.env.BENCH_TEMPORAL_LOG_LEVEL as 'WARN' | undefined) ?? 'ERROR';
  Runtime.install({
    logger: new DefaultLogger(level),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: level }), forward: {} } },
    shutdownSignals: [],
  });
}

// ---------------------------------------------------------------------------------------------------------
// The pieces

interface BenchDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

/** A database of the benchmark's own, random name, migrated; `drop` removes it. */
async function createBenchDatabase(): Promise<BenchDatabase> {
  const adminUrl = process.env.BENCH_DATABASE_ADMIN_URL ?? adminUrlOf(process.env.DATABASE_URL);
  const name = `storycheck_bench_${randomBytes(6).toString('hex')}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const dbUrl = url.toString();
  const drop = async () => {
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
    try {
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
    } finally {
      await admin.end({ timeout: 5 });
    }
  };
  try {
    await migrate(dbUrl);
  } catch (err) {
    await drop().catch(() => {});
    throw err;
  }
  const sql = createSql(dbUrl, { max: 24 });
  return {
    url: dbUrl,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      await drop();
    },
  };
}

/** The `postgres` maintenance database of DATABASE_URL's server (default: the local one). */
function adminUrlOf(databaseUrl: string | undefined): string {
  const url = new URL(databaseUrl || 'postgres://postgres@127.0.0.1:5432/storycheck');
  url.pathname = '/postgres';
  return url.toString();
}

/** Where the time of a scenario went, from the client's and the pool's side. */
class Probe {
  requests = 0;
  requestMs = 0;
  leases = 0;
  leaseCallMs = 0;
  holdMs = 0;
  releaseCallMs = 0;
  readonly #leasedAt = new Map<string, number>();

  leased(holder: string) {
    this.leases++;
    this.#leasedAt.set(holder, performance.now());
  }

  released(holder: string) {
    const at = this.#leasedAt.get(holder);
    if (at !== undefined) this.holdMs += performance.now() - at;
    this.#leasedAt.delete(holder);
  }

  reset() {
    Object.assign(this, { requests: 0, requestMs: 0, leases: 0, leaseCallMs: 0, holdMs: 0, releaseCallMs: 0 });
    this.#leasedAt.clear();
  }
}

/** The product's story client with a stopwatch on every call. */
class BenchStoryClient extends StoryClient {
  constructor(
    options: ConstructorParameters<typeof StoryClient>[0],
    readonly probe: Probe,
  ) {
    super(options);
  }

  async #timed<T>(call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await call();
    } finally {
      this.probe.requests++;
      this.probe.requestMs += performance.now() - started;
    }
  }

  override resolveUserId(target: UpstreamTarget, username: string, signal?: AbortSignal): Promise<ResolvedUser> {
    return this.#timed(() => super.resolveUserId(target, username, signal));
  }

  override fetchStories(target: UpstreamTarget, userIds: string[], signal?: AbortSignal, now?: number): Promise<StoriesAnswer> {
    return this.#timed(() => super.fetchStories(target, userIds, signal, now));
  }
}

/** The product's pool with a stopwatch: time in lease/release calls, and how long each lease is held. */
function timedPool(pool: ProxyPool, probe: Probe): ProxyPool {
  const timed = async <T extends LeaseResult>(call: () => Promise<T>, holder: string): Promise<T> => {
    const started = performance.now();
    const result = await call();
    probe.leaseCallMs += performance.now() - started;
    if (result.ok) probe.leased(holder);
    return result;
  };
  return {
    lease: (holder, opts) => timed(() => pool.lease(holder, opts), holder),
    acquire: (holder, opts) => timed(() => pool.acquire(holder, opts), holder),
    async release(lease, outcome, context) {
      probe.released(lease.holder);
      const started = performance.now();
      try {
        return await pool.release(lease, outcome, context);
      } finally {
        probe.releaseCallMs += performance.now() - started;
      }
    },
    stats: () => pool.stats(),
  };
}

interface World {
  options: BenchOptions;
  db: BenchDatabase;
  sim: RunningSimulator;
  proxies: ForwardProxies;
  baseEnv: Record<string, string>;
  config: Config;
  /** The worker's dependencies: the product's, with the stopwatch client and pool (see Probe). */
  deps: CheckDependencies;
  client: BenchStoryClient;
  probe: Probe;
  env: TestWorkflowEnvironment;
  taskQueue: string;
  /** Rejects when the worker stops unexpectedly. */
  workerDone: Promise<never>;
  profileIds: string[];
  usernames: string[];
}

/** Simulator latency and rate for the next scenario; fresh counters, full buckets, rested proxies. */
async function resetWorld(world: World, spec: ScenarioSpec): Promise<void> {
  world.sim.setOptions({
    latencyMs: spec.latencyMs,
    ratePerSecond: spec.rate,
    burst: world.options.burst,
    rateLimitShare: spec.storm ? 0.3 : 0,
    errorRate: spec.storm ? 0.05 : 0,
  });
  world.sim.reset();
  world.probe.reset();
  // the product's pacing (PROXY_MIN_INTERVAL_MS, read by the checker on every chunk), with a margin:
  // requests through a proxy hop do not arrive exactly as spaced
  world.config.PROXY_MIN_INTERVAL_MS = spec.paced && spec.rate > 0 ? Math.ceil(1000 / spec.rate + PACING_MARGIN_MS) : 0;
  await world.db.sql`
    update proxies set status = 'active', rate_limited_until = null, next_free_at = null, lease_holder = null,
      lease_expires_at = null, consecutive_failures = 0`;
}

/** Caches every profile's user id as a first check would (when first_check itself did not). */
async function cacheUserIds(world: World): Promise<void> {
  const ids = world.usernames.map((u) => world.sim.simulator.population.lookup(u)?.userId ?? '');
  await world.db.sql`
    update profiles p set upstream_user_id = t.uid, is_private = false
    from unnest(${world.usernames}::text[], ${ids}::text[]) as t(username, uid)
    where p.username = t.username and t.uid <> ''`;
}

async function clearUserIds(world: World): Promise<void> {
  await world.db.sql`update profiles set upstream_user_id = null, is_private = null`;
}

/** A running batch over every profile, as the queue runner would claim it. */
async function runningBatch(world: World, name: string): Promise<{ batchId: string; workflowId: string }> {
  const created = await createBatch(world.db.sql, { profileIds: world.profileIds, name: `bench ${name}` });
  const claimed = await claimNextBatch(world.db.sql);
  if (!claimed || claimed.id !== created.id) throw new Error(`claimNextBatch did not pick the ${name} batch (another is running)`);
  return { batchId: claimed.id, workflowId: claimed.workflow_id! };
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

/** Prints progress every 15 s while `promise` runs. */
async function withProgress<T>(world: World, name: string, batchId: string, promise: Promise<T>): Promise<T> {
  const started = performance.now();
  const timer = setInterval(() => {
    world.db.sql<{ n: number }[]>`select (successful_checks + failed_checks)::int as n from batches where id = ${batchId}`
      .then(([row]) => {
        const s = (performance.now() - started) / 1000;
        say(
          `  ${name}: ${row?.n ?? 0}/${world.profileIds.length} checked after ${s.toFixed(0)} s; ` +
            `${world.sim.stats.requests} requests, ${world.sim.stats.rateLimited} rate limited`,
        );
      })
      .catch(() => {});
  }, 15_000);
  timer.unref();
  try {
    return await promise;
  } finally {
    clearInterval(timer);
  }
}

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

/** Number of events of every run of a workflow chain (continue-as-new), in order. */
async function historyLengths(world: World, workflowId: string, firstRunId: string): Promise<number[]> {
  const lengths: number[] = [];
  let runId: string | null | undefined = firstRunId;
  for (let i = 0; runId && i < 10_000; i++) {
    const history: History = await world.env.client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events: NonNullable<History['events']> = history.events ?? [];
    lengths.push(events.length);
    runId = events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
  }
  return lengths;
}

interface ScenarioSpec {
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
}

function specs(o: BenchOptions): Record<ScenarioName, ScenarioSpec> {
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
  };
}

interface Run {
  seconds: number;
  runs: number | null;
  historyLengths: number[] | null;
  retryLater?: number;
}

/** BatchWorkflow to completion through the client, bounded by `limitMs`. */
async function runWorkflow(world: World, spec: ScenarioSpec, batch: { batchId: string; workflowId: string }, limitMs: number): Promise<Run> {
  // the settings the claim activity would record, with this scenario's CHECK_CHUNK_SIZE
  const settings = batchSettings(loadConfig({ ...world.baseEnv, CHECK_CHUNK_SIZE: String(spec.chunkSize) }));
  const started = performance.now();
  const handle = await world.env.client.workflow.start(batchWorkflow, {
    taskQueue: world.taskQueue,
    workflowId: batch.workflowId,
    args: [{ batchId: batch.batchId, settings }],
  });
  let result: BatchResult;
  try {
    result = await within(withProgress(world, spec.name, batch.batchId, Promise.race([handle.result(), world.workerDone])), limitMs, spec.name);
  } catch (err) {
    await handle.terminate('benchmark: time limit').catch(() => {});
    throw err;
  }
  const seconds = (performance.now() - started) / 1000;
  if (result.outcome !== 'done') throw new Error(`the batch workflow ended ${result.outcome}`);
  const lengths = await historyLengths(world, batch.workflowId, handle.firstExecutionRunId);
  return { seconds, runs: result.totals.runs, historyLengths: lengths };
}

function never(message: string): never {
  throw new Error(message);
}

/**
 * The same checker as the activity, as a plain loop: `concurrency` chunks at once, each retried after
 * RetryLater's delay (or the configured backoff when it names none), as the activity's retry would.
 */
async function runInProcess(
  world: World,
  name: string,
  checker: Checker,
  batch: { batchId: string },
  chunkSize: number,
  concurrency: number,
  limitMs: number,
): Promise<Run> {
  const { config } = world;
  const sql = world.db.sql;
  const abort = new AbortController();
  interruption.signal.addEventListener('abort', () => abort.abort(new Error('interrupted')), { once: true });
  const started = performance.now();
  const { chunks } = await nextChunks(sql, batch.batchId, 0, chunkSize, Math.ceil(world.profileIds.length / chunkSize) + 1);
  let next = 0;
  let retryLater = 0;
  const backoff = (attempt: number) =>
    Math.min(config.CHECK_MAX_INTERVAL_MS, config.CHECK_INITIAL_INTERVAL_MS * config.CHECK_BACKOFF ** (attempt - 1));

  const lane = async (laneNo: number) => {
    while (next < chunks.length && !abort.signal.aborted) {
      const index = next++;
      const chunk = chunks[index]!;
      for (let attempt = 1; !abort.signal.aborted; attempt++) {
        try {
          const result = await checker.checkChunk(
            { batchId: batch.batchId, profileIds: chunk.profileIds, holder: `bench/${laneNo}/${index}#${attempt}` },
            { signal: abort.signal },
          );
          if (result.kind !== 'done') throw new Error(`chunk ${index}: ${result.kind}`);
          break;
        } catch (err) {
          if (!(err instanceof RetryLater)) throw err;
          retryLater++;
          await sleep(err.delayMs ?? backoff(attempt), undefined, { signal: abort.signal }).catch(() => {});
        }
      }
    }
  };
  const lanes = Array.from({ length: concurrency }, (_, i) => lane(i));
  try {
    await within(withProgress(world, name, batch.batchId, Promise.all(lanes)), limitMs, name);
  } catch (err) {
    abort.abort(err);
    await Promise.allSettled(lanes);
    throw err;
  }
  await completeBatch(sql, batch.batchId);
  return { seconds: (performance.now() - started) / 1000, runs: null, historyLengths: null, retryLater };
}

async function runScenario(world: World, spec: ScenarioSpec): Promise<ScenarioFigures> {
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
    if (!interrupted) await failBatch(world.db.sql, batch.batchId, `benchmark: ${(err as Error).message}`).catch(() => {});
    throw err;
  } finally {
    // later re-checks must never pay lookups, even after a failure
    if (spec.lookups && !interrupted) await cacheUserIds(world);
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

function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpu_model: cpus[0]?.model.trim() ?? 'unknown',
    memory_gb: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------------------

async function setUp(options: BenchOptions): Promise<World> {
  const t0 = performance.now();
  const db = await createBenchDatabase();
  onCleanup('database', () => db.drop());

  const sim = await startSimulator({ ratePerSecond: options.rate, burst: options.burst, latencyMs: options.latencyMs, seed: 'storycheck-bench' });
  onCleanup('simulator', () => sim.close());
  const proxies = await startForwardProxies({ count: options.proxies, auth: { username: PROXY_USERNAME, password: PROXY_PASSWORD } });
  onCleanup('forward proxies', () => proxies.close());
  for (const p of proxies.proxies) await createProxy(db.sql, { url: p.url, username: PROXY_USERNAME, password: PROXY_PASSWORD });

  const baseEnv: Record<string, string> = {
    DATABASE_URL: db.url,
    STORY_API_BASE_URL: sim.url,
    TEMPORAL_SEARCH_ATTRIBUTES: 'false',
    BATCH_CONCURRENCY: String(options.concurrency),
    LOG_LEVEL: 'silent',
  };
  const config = loadConfig(baseEnv);
  const logger = createLogger({ component: 'bench' });
  const product = await createCheckDependencies(config, { sql: db.sql, logger });
  onCleanup('check dependencies', () => product.close());
  // the same parts, with a stopwatch on the story client and the pool
  const probe = new Probe();
  const client = new BenchStoryClient(
    { baseUrl: config.STORY_API_BASE_URL, appId: config.UPSTREAM_APP_ID, userAgent: config.UPSTREAM_USER_AGENT, timeoutMs: config.CHECK_TIMEOUT_MS, logger },
    probe,
  );
  onCleanup('story client', () => client.close());
  const pool = timedPool(product.pool, probe);
  const checker = createChecker({ sql: db.sql, pool, client, config });
  const deps: CheckDependencies = { ...product, pool, client, checker };

  const usernames = Array.from({ length: options.profiles }, (_, i) => `bench_user_${i}`);
  const { items } = await upsertProfiles(db.sql, usernames);
  const profileIds = items.map((p) => p.id);

  const env = await startTemporal();
  const bundle = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: { warn() {}, info() {}, debug() {}, trace() {}, log() {}, error: (m: string) => say(m) },
  });
  const taskQueue = `bench-${randomBytes(4).toString('hex')}`;
  const worker = await createWorker({ connection: env.nativeConnection, namespace: 'default', taskQueue, config, deps, workflowBundle: bundle });
  const running = worker.run();
  // a worker that stops on its own is an error, surfaced by the scenario waiting on it
  const workerDone = running.then(
    () => never('the worker stopped'),
    (err: unknown) => never(`the worker failed: ${(err as Error)?.message ?? String(err)}`),
  );
  workerDone.catch(() => {});
  onCleanup('worker', async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => {});
  });

  say(`set up in ${((performance.now() - t0) / 1000).toFixed(1)} s: database, simulator, ${options.proxies} proxies, Temporal dev server, worker`);
  return { options, db, sim, proxies, baseEnv, config, deps, client, probe, env, taskQueue, workerDone, profileIds, usernames };
}

/**
 * A Temporal dev server (in memory, no UI) from the project's `temporal` CLI, as a child process of ours with
 * its output kept off our stdout (the table is the only thing printed there), and a test environment
 * connected to it. Without the CLI, the SDK's own download via createLocal.
 */
async function startTemporal(): Promise<TestWorkflowEnvironment> {
  const { cli } = ensureTemporalBinaries(say);
  if (!cli) {
    const env = await TestWorkflowEnvironment.createLocal({ server: { log: { format: 'pretty', level: 'error' } } });
    onCleanup('Temporal dev server', () => env.teardown());
    return env;
  }
  const port = await freePort();
  const child = spawn(
    cli,
    ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'error', '--log-format', 'pretty'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  child.once('error', (err) => say(`temporal CLI: ${err.message}`));
  onCleanup('Temporal dev server', async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!stopped) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the Temporal dev server exited (${child.exitCode}): ${stderr.trim()}`);
    let env: TestWorkflowEnvironment | null = null;
    try {
      env = await TestWorkflowEnvironment.createFromExistingServer({ address: `127.0.0.1:${port}` });
      // the namespace exists once the server answers for it
      await env.client.workflowService.describeNamespace({ namespace: 'default' });
      const ready = env;
      onCleanup('Temporal connections', () => ready.teardown());
      return ready;
    } catch (err) {
      await env?.teardown().catch(() => {});
      if (Date.now() > deadline) throw new Error(`the Temporal dev server did not come up in 60 s: ${(err as Error).message}`);
      await sleep(250);
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      say(`${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  setLogLevel('silent');
  quietTemporalRuntime();
  if (options.latencyMs >= 1000 / options.rate) {
    say(`note: latency ${options.latencyMs} ms ≥ 1/rate: one proxy cannot reach ${options.rate}/s one request at a time`);
  }

  const world = await setUp(options);
  const all = specs(options);
  if (!options.scenarios.includes('first_check')) await cacheUserIds(world);

  const scenarios: ScenarioFigures[] = [];
  const failures: string[] = [];
  const started = performance.now();
  for (const name of options.scenarios) {
    if (interrupted) break;
    try {
      scenarios.push(await runScenario(world, all[name]));
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      failures.push(`${name}: ${message}`);
      say(`  ${name} FAILED: ${message}`);
    }
  }

  // an interrupted run keeps the previous figures: nothing half-measured overwrites them
  if (interrupted) return 130;
  const output = {
    machine: machine(),
    settings: {
      profiles: options.profiles,
      proxies: options.proxies,
      per_proxy_rate: options.rate,
      burst: options.burst,
      latency_ms: options.latencyMs,
      batch_concurrency: options.concurrency,
      batch_profiles_per_run: world.config.BATCH_PROFILES_PER_RUN,
      quick: options.quick,
      total_seconds: round((performance.now() - started) / 1000, 1),
    },
    scenarios,
    ...(failures.length ? { failures } : {}),
  };
  const out = resolve(ROOT, options.out);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(output, null, 2)}\n`);

  console.log(formatTable(scenarios));
  console.log(
    `\n${options.proxies} proxies × ${options.rate} requests/s (burst ${options.burst}), latency ${options.latencyMs} ms, ` +
      `BATCH_CONCURRENCY ${options.concurrency}; ${output.machine.cpus} × ${output.machine.cpu_model}, Node ${process.version}`,
  );
  console.log(`figures written to ${options.out}`);
  for (const f of failures) console.log(`FAILED ${f}`);
  return failures.length ? 1 : 0;
}

// stdout closed early (`| head`): keep going so that cleanup still runs
process.stdout.on('error', () => {});
const onSignal = (signal: NodeJS.Signals) => {
  interrupted = true;
  interruption.abort();
  say(`\n${signal}: stopping everything`);
  void cleanup().finally(() => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  say(`bench failed: ${(err as Error)?.stack ?? String(err)}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
