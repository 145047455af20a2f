/**
 * `api_load`: the HTTP API under load while a batch runs, and what that load costs the batch.
 *
 * 1. The real API runs as a process of its own (bench/api-process.ts) on the benchmark's database and Temporal
 *    dev server. Its wake-ups go to a task queue no worker polls, so the queue runner never claims anything:
 *    the batches are claimed and run here through the world's worker, as in every other scenario.
 * 2. Unloaded: a re-check of the world's profiles as BatchWorkflow, bounded by a reduced, paced per-proxy rate
 *    (bench/api-load-plan.ts sizes it to take a little longer than the three phases), with the API idle.
 * 3. Loaded: the same batch again, same rate, same cached user ids, proxies reset the same way; once it has
 *    started, three phases of PHASE_S seconds each, driven by autocannon (bench/load-phases.ts):
 *    - creates: POST /batches {"hold": true, "usernames": [...]} on 50 connections, every body different
 *      (fresh usernames from a counter, plus some of the world's existing ones);
 *    - reads: GET /batches/:id of the running batch on 200 connections;
 *    - mix: creates, reads and transitions (resume then pause of held batches made beforehand; 409 counts as
 *      answered) together, while 100 subscribers follow the running batch's events (bench/sse-subscribers.ts).
 *    Throughout, GET /readyz every 250 ms on a client of its own (bench/readyz-watch.ts).
 * 4. batch_slowdown = loaded / unloaded − 1. Unloaded runs first, so that the load (thousands of new batches
 *    and profiles) is not in the database under it; both runs start from the same state otherwise.
 *
 * Everything the load generator, the worker, the simulator and the proxies do happens in this process, the API
 * and Postgres in theirs, all on the same cores: the slowdown is what the machine as a whole pays for the load.
 * Its requests: bench/api-load-requests.ts; figures and goals: bench/api-load-report.ts. Every wait is bounded;
 * the API process is stopped at the end (and by the run's Shutdown, should the scenario not get there).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { freePort } from '../src/local/ports.js';
import type { Shutdown } from '../src/process/shutdown.js';
import { cancelBatch } from '../src/repos/queue.js';
import { sleep } from '../src/process/timeouts.js';
import { BATCH_TARGET_S, CONNECTIONS, PHASE_S, SSE_SUBSCRIBERS } from './api-load-plan.js';
import { apiLoadGoals, type ApiLoadExtras } from './api-load-report.js';
import { createHeldBatches, loadKinds, type LoadKinds } from './api-load-requests.js';
import { startApiProcess, type ApiLogSummary, type ApiProcess } from './api-process.js';
import { idealChecksPerSecond, idealSeconds, requestsNeeded, round, type ScenarioFigures, type ScenarioSpec } from './figures.js';
import { runPhase } from './load-phases.js';
import { watchReadyz } from './readyz-watch.js';
import { expectBatchDone, releaseFailedBatch, runWorkflow, stopApiQueueRunner, type Run } from './runs.js';
import { subscribe } from './sse-subscribers.js';
import { resetWorld, runningBatch, say, type World } from './world.js';

/** How long the loaded batch may take to report its first checks before the load starts anyway. */
const FIRST_CHECKS_WAIT_MS = 10_000;

async function checked(world: World, batchId: string): Promise<number> {
  const [row] = await world.db.sql<{ n: number }[]>`select (successful_checks + failed_checks)::int as n from batches where id = ${batchId}`;
  return row?.n ?? 0;
}

/** Runs the spec's batch over every profile through BatchWorkflow; the batch is failed if the run fails. */
async function runBatch(world: World, spec: ScenarioSpec, label: string, limitMs: number, started?: (batchId: string) => void): Promise<Run> {
  await resetWorld(world, spec);
  const batch = await runningBatch(world, label);
  started?.(batch.batchId);
  try {
    const run = await runWorkflow(world, spec, batch, limitMs);
    await expectBatchDone(world, batch.batchId, world.profileIds.length, label);
    return run;
  } catch (err) {
    await releaseFailedBatch(world, batch.batchId, err);
    throw err;
  }
}

export async function runApiLoad(world: World, spec: ScenarioSpec, shutdown: Shutdown): Promise<ScenarioFigures> {
  const limitMs = (world.options.timeLimitS ?? BATCH_TARGET_S * 5) * 1000;
  announce(world, spec);
  const { api, apiKey } = await startScenarioApi(world, spec, shutdown);
  const heldBatchIds: string[] = [];
  try {
    const unloaded = await runBatch(world, spec, `${spec.name} (unloaded)`, limitMs);
    const unloadedRateLimited = world.sim.stats.rateLimited;
    say(`  ${spec.name}: unloaded in ${round(unloaded.seconds, 2)} s (${unloadedRateLimited} × 429)`);
    await createHeldBatches(api, apiKey, heldBatchIds);
    const loaded = await runLoadedBatch(world, spec, limitMs, api, apiKey, heldBatchIds);
    const logs = api.logs();
    const extras = apiLoadExtras(world, spec, { unloaded, unloadedRateLimited }, loaded, logs);
    const figures = apiLoadFigures(world, spec, loaded.run, extras, logs);
    reportApiLoad(figures);
    return figures;
  } finally {
    await endScenario(world, spec, api, heldBatchIds);
  }
}

function announce(world: World, spec: ScenarioSpec): void {
  const o = world.options;
  say(
    `${spec.name}: the API as a process of its own under ${PHASE_S} s each of creates, reads and a mix (with ${SSE_SUBSCRIBERS} SSE subscribers), ` +
      `while a re-check of ${world.profileIds.length} profiles runs, ${spec.chunkSize} per request, ${o.proxies} proxies × ${spec.rate}/s paced (burst ${spec.burst}); ` +
      `the same batch unloaded first; about ${BATCH_TARGET_S} s each`,
  );
}

/** The API process on the world's database and Temporal, and the key it accepts; the run's Shutdown stops it too. */
async function startScenarioApi(world: World, spec: ScenarioSpec, shutdown: Shutdown): Promise<{ api: ApiProcess; apiKey: string }> {
  const apiKey = randomBytes(24).toString('hex');
  const api = await startApiProcess(
    {
      DATABASE_URL: world.db.url,
      TEMPORAL_ADDRESS: world.env.address,
      TEMPORAL_NAMESPACE: 'default',
      // no worker polls it: the queue runner the API wakes never claims a batch here
      TEMPORAL_TASK_QUEUE: `${world.taskQueue}-api-only`,
      TEMPORAL_SEARCH_ATTRIBUTES: 'false',
      HOST: '127.0.0.1',
      API_KEY: apiKey,
      LOG_LEVEL: 'warn',
    },
    await freePort(),
  );
  shutdown.add('API process', () => api.stop());
  say(`  ${spec.name}: API process ${api.pid} ready at ${api.url}`);
  return { api, apiKey };
}

/** The loaded batch, started (its first checks seen, or FIRST_CHECKS_WAIT_MS over): its run to await, and where it stands. */
interface StartedBatch {
  run: Promise<Run>;
  batchId: string;
  /** performance.now() when it was claimed. */
  claimedAt: number;
  /** Whether its run has ended (either way). */
  settled(): boolean;
}

async function startLoadedBatch(world: World, spec: ScenarioSpec, limitMs: number): Promise<StartedBatch> {
  let batchId = '';
  let claimedAt = 0;
  let settled = false;
  const run = runBatch(world, spec, spec.name, limitMs, (id) => {
    batchId = id;
    claimedAt = performance.now();
  });
  void run.then(
    () => (settled = true),
    () => (settled = true),
  );
  while (!settled && !batchId) await sleep(20);
  // a run that failed before its first checks: its error
  if (!batchId) await run;
  while (!settled && performance.now() - claimedAt < FIRST_CHECKS_WAIT_MS && (await checked(world, batchId)) === 0) await sleep(100);
  if (settled) await run;
  return { run, batchId, claimedAt, settled: () => settled };
}

/** The loaded run and where it stood when the load ended. */
interface LoadedOutcome {
  run: Run;
  load: Load;
  loadStartedAfterS: number;
  runningAtLoadEnd: boolean;
  checkedAtLoadEnd: number;
}

/** The loaded run: the batch starts, then the phases run while it does. */
async function runLoadedBatch(
  world: World,
  spec: ScenarioSpec,
  limitMs: number,
  api: ApiProcess,
  apiKey: string,
  heldBatchIds: readonly string[],
): Promise<LoadedOutcome> {
  const batch = await startLoadedBatch(world, spec, limitMs);
  const loadStartedAfterS = (performance.now() - batch.claimedAt) / 1000;
  let load: Load | undefined;
  let loadError: unknown;
  try {
    load = await runLoad(api, apiKey, loadKinds(world, batch.batchId, heldBatchIds), batch.batchId, spec.name);
  } catch (err) {
    loadError = err;
  }
  const runningAtLoadEnd = !batch.settled();
  const checkedAtLoadEnd = await checked(world, batch.batchId);
  say(
    `  ${spec.name}: load over ${round((performance.now() - batch.claimedAt) / 1000, 1)} s into the batch; ` +
      `the batch ${runningAtLoadEnd ? `is at ${checkedAtLoadEnd}/${world.profileIds.length}` : 'had already ended'}`,
  );
  // even when the load failed: the batch must be over before the next scenario claims one
  const run = await batch.run;
  if (!load) throw loadError;
  return { run, load, loadStartedAfterS, runningAtLoadEnd, checkedAtLoadEnd };
}

function apiLoadExtras(
  world: World,
  spec: ScenarioSpec,
  { unloaded, unloadedRateLimited }: { unloaded: Run; unloadedRateLimited: number },
  outcome: LoadedOutcome,
  logs: ApiLogSummary,
): Omit<ApiLoadExtras, 'goals'> {
  const workload = { profiles: world.profileIds.length, chunkSize: spec.chunkSize, lookups: false };
  return {
    unloaded_seconds: round(unloaded.seconds, 2),
    loaded_seconds: round(outcome.run.seconds, 2),
    unloaded_rate_limited: unloadedRateLimited,
    batch_slowdown: round(outcome.run.seconds / unloaded.seconds - 1, 3),
    batch: {
      chunk_size: spec.chunkSize,
      requests_needed: requestsNeeded(workload),
      burst: spec.burst ?? world.options.burst,
      load_started_after_s: round(outcome.loadStartedAfterS, 1),
      running_at_load_end: outcome.runningAtLoadEnd,
      checked_at_load_end: outcome.checkedAtLoadEnd,
    },
    phases: outcome.load.phases,
    readyz: outcome.load.readyz,
    api_log: { warnings: logs.warnings, errors: logs.errors, messages: logs.messages.map(({ message, count }) => ({ message, count })) },
  };
}

/** The scenario's row is the loaded run: the batch as it ran under the load. */
function apiLoadFigures(
  world: World,
  spec: ScenarioSpec,
  loaded: Run,
  extras: Omit<ApiLoadExtras, 'goals'>,
  logs: ApiLogSummary,
): ScenarioFigures & ApiLoadExtras {
  const o = world.options;
  const profiles = world.profileIds.length;
  const workload = { profiles, chunkSize: spec.chunkSize, lookups: false };
  const stats = world.sim.stats;
  const ideal = idealChecksPerSecond(workload, o.proxies, spec.rate);
  return {
    name: spec.name,
    profiles,
    proxies: o.proxies,
    per_proxy_rate: spec.rate,
    latency_ms: spec.latencyMs,
    seconds: round(loaded.seconds, 2),
    checks_per_s: round(profiles / loaded.seconds, 1),
    ideal_checks_per_s: round(ideal, 1),
    ratio_to_ideal: round(profiles / loaded.seconds / ideal, 3),
    upstream_requests_per_profile: round(stats.requests / profiles, 4),
    max_history_events: loaded.historyLengths ? Math.max(...loaded.historyLengths) : null,
    worker_rss_mb: round(process.memoryUsage().rss / 2 ** 20, 0),
    mode: 'temporal',
    paced: true,
    chunk_size: spec.chunkSize,
    concurrency: o.concurrency,
    ideal_seconds: round(idealSeconds(workload, o.proxies, spec.rate), 2),
    requests: stats.requests,
    rate_limited: stats.rateLimited,
    ...extras,
    goals: apiLoadGoals(extras),
    api_log_examples: logs.messages.map((m) => m.example),
    api_output: logs.other,
  };
}

function reportApiLoad(figures: ScenarioFigures & ApiLoadExtras): void {
  const { phases } = figures;
  const missed = figures.goals.filter((g) => !g.met).map((g) => g.goal);
  say(
    `  ${figures.name}: creates ${phases.creates.ok_per_s}/s, reads ${phases.reads.ok_per_s}/s, mix ${phases.mix.ok_per_s}/s; batch ${figures.unloaded_seconds} → ` +
      `${figures.loaded_seconds} s; goals ${missed.length ? `missed: ${missed.join('; ')}` : 'all met'} (the block after the table has the figures)`,
  );
}

/** Whatever the scenario got to: nothing of it left queued or running, the API process stopped. */
async function endScenario(world: World, spec: ScenarioSpec, api: ApiProcess, heldBatchIds: readonly string[]): Promise<void> {
  await leaveNothingQueued(world, heldBatchIds);
  await stopApiQueueRunner(world);
  const how = await api.stop();
  say(`  ${spec.name}: API process ${how}`);
}

type Load = Awaited<ReturnType<typeof runLoad>>;

/** The three phases, one after the other, with /readyz polled throughout. */
async function runLoad(api: ApiProcess, apiKey: string, kinds: LoadKinds, batchId: string, name: string) {
  const readyz = watchReadyz(api.url);
  try {
    readyz.phase('creates');
    say(`  ${name}: creates, ${CONNECTIONS.creates} connections, ${PHASE_S} s`);
    const creates = await runPhase(api.url, apiKey, PHASE_S, [kinds.creates(CONNECTIONS.creates)]);
    readyz.phase('reads');
    say(`  ${name}: reads, ${CONNECTIONS.reads} connections, ${PHASE_S} s`);
    const reads = await runPhase(api.url, apiKey, PHASE_S, [kinds.reads(CONNECTIONS.reads)]);
    readyz.phase('mix');
    const m = CONNECTIONS.mix;
    say(`  ${name}: mix, ${m.creates} + ${m.reads} + ${m.transitions} connections and ${SSE_SUBSCRIBERS} SSE subscribers, ${PHASE_S} s`);
    const subscribers = subscribe(api.url, `/batches/${batchId}/events`, apiKey, SSE_SUBSCRIBERS);
    let mix: Awaited<ReturnType<typeof runPhase>>;
    try {
      mix = await runPhase(api.url, apiKey, PHASE_S, [kinds.creates(m.creates), kinds.reads(m.reads), kinds.transitions(m.transitions)]);
    } catch (err) {
      subscribers.stop();
      throw err;
    }
    const phases: ApiLoadExtras['phases'] = { creates, reads, mix: { ...mix, sse: subscribers.stop() } };
    readyz.phase('after');
    return { phases, readyz: await readyz.stop() };
  } catch (err) {
    await readyz.stop();
    throw err;
  }
}

/** The held batches the transitions left queued would be claimed by a later scenario: cancelled. */
async function leaveNothingQueued(world: World, heldBatchIds: readonly string[]): Promise<void> {
  if (world.interrupted.aborted || heldBatchIds.length === 0) return;
  const queued = await world.db.sql<{ id: string }[]>`select id from batches where status = 'queued' and id = any(${heldBatchIds as string[]}::uuid[])`;
  for (const { id } of queued) await cancelBatch(world.db.sql, id).catch(() => {});
}
