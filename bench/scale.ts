/**
 * `scale_100k`: a batch of 100,000 new usernames, end to end at full size.
 *
 * 1. The real API (src/api/server.ts) runs in this process on a free port, with its own Postgres pool on the
 *    benchmark's database. Its wake-ups go to a task queue no worker polls, so the queue runner never claims
 *    anything here: the batch is claimed and run below, as in every other scenario.
 * 2. A batch of 100,000 new usernames is created over HTTP while a second client changes the queue without
 *    pause (bench/create-under-load.ts). Figures: create_s (request to answer) and max_transition_ms (the
 *    longest transition started during the create; the product's bound is 1 s, the create's 5 s).
 * 3. The batch's user ids are cached (as a first check would leave them), then it runs through BatchWorkflow
 *    with no rate limit and no latency at the simulator, like `unlimited`: a minute or two, which shows the
 *    system's own cost at this size. Figures: checks_per_s, max_history_events over the continue-as-new chain
 *    (bound: 10,000), worker_rss_mb = the peak RSS of this process sampled every 250 ms during the run (bound:
 *    512 MB; the worker, the API, the simulator and the proxies all live here, so it is an upper bound of the
 *    worker's; rss_mb_before_create is what the set-up alone holds, rss_mb_peak_create the peak of the create).
 * 4. The API's memory before the create, after it and after the batch is done, each after a full garbage
 *    collection: api_heap_mb_start / api_heap_mb_after_create / api_heap_mb_end, and api_rss_mb_start /
 *    api_rss_mb_end (a flat heap: nothing of the 100k request is kept).
 */
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { startApi } from '../src/api/server.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logging/logger.js';
import { claimNextBatch } from '../src/repos/queue.js';
import { createUnderLoad } from './create-under-load.js';
import { round, type ScenarioFigures, type ScenarioSpec } from './figures.js';
import { expectBatchDone, releaseFailedBatch, runWorkflow, stopApiQueueRunner, type Run } from './runs.js';
import { resetWorld, say, type World } from './world.js';

const PROFILES = 100_000;
/** Seconds the run may take before the scenario is failed (at no rate limit it takes one or two minutes). */
const RUN_LIMIT_S = 900;
const RSS_SAMPLE_MS = 250;

const scaleUsernames = () => Array.from({ length: PROFILES }, (_, i) => `scale_user_${i}`);

/** A full garbage collection, so that heap figures compare what is kept, not what is waiting to be swept. */
export function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

export function memoryMb(): { heap: number; rss: number } {
  collectGarbage();
  const { heapUsed, rss } = process.memoryUsage();
  return { heap: round(heapUsed / 2 ** 20, 0), rss: round(rss / 2 ** 20, 0) };
}

/** Samples this process's RSS until stopped; returns the peak. */
function rssPeak(): { stop(): number } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), RSS_SAMPLE_MS);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage().rss);
    },
  };
}

export async function runScale(world: World, spec: ScenarioSpec): Promise<ScenarioFigures> {
  say(`${spec.name}: a batch of ${PROFILES} new usernames over HTTP under queue transitions, then run with no rate limit and no latency`);
  await resetWorld(world, spec);
  const config = loadConfig({ ...world.baseEnv, HOST: '127.0.0.1', TEMPORAL_TASK_QUEUE: `${world.taskQueue}-api-only` });
  const api = await startApi({ config, temporal: world.env.client, port: 0, logger: createLogger({ component: 'bench-api' }) });
  let batchId: string | null = null;
  try {
    const create = await createMeasured(spec, api.url);
    batchId = create.created.batchId;
    if (create.created.totalProfiles !== PROFILES) throw new Error(`the batch holds ${create.created.totalProfiles} profiles, not ${PROFILES}`);
    const ran = await runMeasured(world, spec, batchId);
    const figures = scaleFigures(world, spec, create, ran);
    say(
      `  ${spec.name}: ran in ${figures.seconds} s, ${figures.checks_per_s} checks/s, max ${figures.max_history_events} history events, ` +
        `peak RSS ${figures.worker_rss_mb} MB, heap ${create.before.heap} → ${ran.after.heap} MB`,
    );
    return figures;
  } catch (err) {
    if (batchId) await releaseFailedBatch(world, batchId, err);
    throw err;
  } finally {
    await stopApiQueueRunner(world);
    await api.close();
  }
}

/** The create over HTTP, and this process's memory around it. */
interface CreateMeasures {
  created: Awaited<ReturnType<typeof createUnderLoad>>;
  before: { heap: number; rss: number };
  /** Peak RSS during the create, in bytes. */
  createPeak: number;
  afterCreate: { heap: number; rss: number };
}

async function createMeasured(spec: ScenarioSpec, url: string): Promise<CreateMeasures> {
  const before = memoryMb();
  const peak = rssPeak();
  try {
    // the names are not kept here, so that the heap after the create shows only what the process kept of it
    const created = await createUnderLoad({ url }, scaleUsernames(), 'bench scale_100k');
    const createPeak = peak.stop();
    const afterCreate = memoryMb();
    say(
      `  ${spec.name}: created in ${round(created.createS, 2)} s (${round(created.createBodyMb, 1)} MB body); ` +
        `${created.transitions} transitions meanwhile, the longest ${round(created.maxTransitionMs, 0)} ms` +
        (created.transitionErrors.length ? `; ${created.transitionErrors.length} failed: ${created.transitionErrors.slice(0, 3).join('; ')}` : ''),
    );
    return { created, before, createPeak, afterCreate };
  } finally {
    peak.stop();
  }
}

/** The batch's run, and this process's memory during and after it. */
interface RunMeasures {
  run: Run;
  requests: number;
  /** Peak RSS during the run, in bytes. */
  workerRssPeak: number;
  after: { heap: number; rss: number };
}

/** The batch's user ids cached, then the batch claimed and run to its end with every profile checked. */
async function runMeasured(world: World, spec: ScenarioSpec, batchId: string): Promise<RunMeasures> {
  await cacheUserIdsOf(world, scaleUsernames());
  const claimed = await claimNextBatch(world.db.sql);
  if (!claimed || claimed.id !== batchId) throw new Error(`claimNextBatch did not pick the ${spec.name} batch`);
  world.sim.reset();
  const peak = rssPeak();
  try {
    const run = await runWorkflow(world, spec, { batchId, workflowId: claimed.workflow_id! }, (world.options.timeLimitS ?? RUN_LIMIT_S) * 1000);
    await expectBatchDone(world, batchId, PROFILES);
    const requests = world.sim.stats.requests;
    const workerRssPeak = peak.stop();
    return { run, requests, workerRssPeak, after: memoryMb() };
  } finally {
    peak.stop();
  }
}

function scaleFigures(world: World, spec: ScenarioSpec, { created, before, createPeak, afterCreate }: CreateMeasures, ran: RunMeasures): ScenarioFigures {
  const o = world.options;
  const { run, requests } = ran;
  return {
    name: spec.name,
    profiles: PROFILES,
    proxies: o.proxies,
    per_proxy_rate: 0,
    latency_ms: 0,
    seconds: round(run.seconds, 2),
    checks_per_s: round(PROFILES / run.seconds, 1),
    ideal_checks_per_s: null,
    ratio_to_ideal: null,
    upstream_requests_per_profile: round(requests / PROFILES, 4),
    max_history_events: run.historyLengths ? Math.max(...run.historyLengths) : null,
    worker_rss_mb: round(ran.workerRssPeak / 2 ** 20, 0),
    rss_mb_before_create: before.rss,
    rss_mb_peak_create: round(createPeak / 2 ** 20, 0),
    // extras
    mode: 'temporal',
    create_s: round(created.createS, 2),
    create_body_mb: round(created.createBodyMb, 2),
    max_transition_ms: round(created.maxTransitionMs, 0),
    transitions_during_create: created.transitions,
    transition_errors: created.transitionErrors,
    api_heap_mb_start: before.heap,
    api_heap_mb_after_create: afterCreate.heap,
    api_heap_mb_end: ran.after.heap,
    api_rss_mb_start: before.rss,
    api_rss_mb_end: ran.after.rss,
    chunk_size: spec.chunkSize,
    concurrency: o.concurrency,
    requests,
    workflow_runs: run.runs,
    history_events_per_run: run.historyLengths,
  };
}

/** Caches the user ids of these usernames as a first check would, so the run sends stories requests only. */
export async function cacheUserIdsOf(world: World, usernames: readonly string[]): Promise<void> {
  const started = performance.now();
  const ids = usernames.map((u) => world.sim.simulator.population.lookup(u)?.userId ?? '');
  await world.db.sql`
    update profiles p set upstream_user_id = t.uid, is_private = false
    from unnest(${usernames as string[]}::text[], ${ids}::text[]) as t(username, uid)
    where p.username = t.username and t.uid <> ''`;
  say(`  user ids of ${ids.filter(Boolean).length} profiles cached in ${round((performance.now() - started) / 1000, 1)} s`);
}
