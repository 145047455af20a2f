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
import { claimNextBatch, failBatch } from '../src/repos/queue.js';
import { QUEUE_WORKFLOW_ID } from '../workflows/batch-queue.js';
import { createUnderLoad } from './create-under-load.js';
import { round, type ScenarioFigures, type ScenarioSpec } from './figures.js';
import { runWorkflow } from './runs.js';
import { resetWorld, say, type World } from './world.js';

const PROFILES = 100_000;
/** Seconds the run may take before the scenario is failed (at no rate limit it takes one or two minutes). */
const RUN_LIMIT_S = 900;
const RSS_SAMPLE_MS = 250;

const scaleUsernames = () => Array.from({ length: PROFILES }, (_, i) => `scale_user_${i}`);

/** A full garbage collection, so that heap figures compare what is kept, not what is waiting to be swept. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

function memoryMb(): { heap: number; rss: number } {
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
  const o = world.options;
  say(`${spec.name}: a batch of ${PROFILES} new usernames over HTTP under queue transitions, then run with no rate limit and no latency`);
  await resetWorld(world, spec);
  const config = loadConfig({ ...world.baseEnv, HOST: '127.0.0.1', TEMPORAL_TASK_QUEUE: `${world.taskQueue}-api-only` });
  const api = await startApi({ config, temporal: world.env.client, port: 0, logger: createLogger({ component: 'bench-api' }) });
  let peak = rssPeak();
  let batchId: string | null = null;
  try {
    const before = memoryMb();
    peak.stop();
    peak = rssPeak();
    // the names are not kept here, so that the heap after the create shows only what the process kept of it
    const created = await createUnderLoad({ url: api.url }, scaleUsernames(), 'bench scale_100k');
    batchId = created.batchId;
    const createPeak = peak.stop();
    const afterCreate = memoryMb();
    say(
      `  ${spec.name}: created in ${round(created.createS, 2)} s (${round(created.createBodyMb, 1)} MB body); ` +
        `${created.transitions} transitions meanwhile, the longest ${round(created.maxTransitionMs, 0)} ms` +
        (created.transitionErrors.length ? `; ${created.transitionErrors.length} failed: ${created.transitionErrors.slice(0, 3).join('; ')}` : ''),
    );
    if (created.totalProfiles !== PROFILES) throw new Error(`the batch holds ${created.totalProfiles} profiles, not ${PROFILES}`);

    await cacheUserIdsOf(world, scaleUsernames());
    const claimed = await claimNextBatch(world.db.sql);
    if (!claimed || claimed.id !== batchId) throw new Error(`claimNextBatch did not pick the ${spec.name} batch`);
    world.sim.reset();
    peak = rssPeak();
    const run = await runWorkflow(world, spec, { batchId, workflowId: claimed.workflow_id! }, (o.timeLimitS ?? RUN_LIMIT_S) * 1000);
    const [facts] = await world.db.sql<{ status: string; successful_checks: number; failed_checks: number }[]>`
      select status, successful_checks, failed_checks from batches where id = ${batchId}`;
    if (facts?.status !== 'done' || facts.successful_checks !== PROFILES) {
      throw new Error(`batch ended ${facts?.status} with ${facts?.successful_checks}/${PROFILES} checked, ${facts?.failed_checks} failed`);
    }
    const requests = world.sim.stats.requests;
    const workerRssPeak = peak.stop();
    const after = memoryMb();
    const checksPerS = PROFILES / run.seconds;
    const figures: ScenarioFigures = {
      name: spec.name,
      profiles: PROFILES,
      proxies: o.proxies,
      per_proxy_rate: 0,
      latency_ms: 0,
      seconds: round(run.seconds, 2),
      checks_per_s: round(checksPerS, 1),
      ideal_checks_per_s: null,
      ratio_to_ideal: null,
      upstream_requests_per_profile: round(requests / PROFILES, 4),
      max_history_events: run.historyLengths ? Math.max(...run.historyLengths) : null,
      worker_rss_mb: round(workerRssPeak / 2 ** 20, 0),
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
      api_heap_mb_end: after.heap,
      api_rss_mb_start: before.rss,
      api_rss_mb_end: after.rss,
      chunk_size: spec.chunkSize,
      concurrency: o.concurrency,
      requests,
      workflow_runs: run.runs,
      history_events_per_run: run.historyLengths,
    };
    say(
      `  ${spec.name}: ran in ${figures.seconds} s, ${figures.checks_per_s} checks/s, max ${figures.max_history_events} history events, ` +
        `peak RSS ${figures.worker_rss_mb} MB, heap ${before.heap} → ${after.heap} MB`,
    );
    return figures;
  } catch (err) {
    // frees the runner for the next scenario (claimNextBatch would hand this batch out again)
    if (batchId && !world.interrupted.aborted) await failBatch(world.db.sql, batchId, `benchmark: ${(err as Error).message}`).catch(() => {});
    throw err;
  } finally {
    peak.stop();
    // the runner the API woke on its unpolled task queue
    await world.env.client.workflow.getHandle(QUEUE_WORKFLOW_ID).terminate('benchmark: scenario over').catch(() => {});
    await api.close();
  }
}

/** Caches the user ids of these usernames as a first check would, so the run sends stories requests only. */
async function cacheUserIdsOf(world: World, usernames: readonly string[]): Promise<void> {
  const started = performance.now();
  const ids = usernames.map((u) => world.sim.simulator.population.lookup(u)?.userId ?? '');
  await world.db.sql`
    update profiles p set upstream_user_id = t.uid, is_private = false
    from unnest(${usernames as string[]}::text[], ${ids}::text[]) as t(username, uid)
    where p.username = t.username and t.uid <> ''`;
  say(`  user ids of ${ids.filter(Boolean).length} profiles cached in ${round((performance.now() - started) / 1000, 1)} s`);
}
