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
 * Figures and goals: bench/api-load-report.ts. Every wait is bounded; the API process is stopped at the end
 * (and by the run's Shutdown, should the scenario not get there).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type autocannon from 'autocannon';
import { freePort } from '../src/local/ports.js';
import type { Shutdown } from '../src/process/shutdown.js';
import { cancelBatch, failBatch } from '../src/repos/queue.js';
import { sleep } from '../src/process/timeouts.js';
import { QUEUE_WORKFLOW_ID } from '../workflows/batch-queue.js';
import {
  BATCH_TARGET_S,
  CONNECTIONS,
  EXISTING_PER_CREATE,
  FRESH_PER_CREATE,
  PHASE_S,
  SSE_SUBSCRIBERS,
  TRANSITION_BATCHES,
} from './api-load-plan.js';
import { apiLoadGoals, type ApiLoadExtras } from './api-load-report.js';
import { startApiProcess, type ApiProcess } from './api-process.js';
import { idealChecksPerSecond, idealSeconds, requestsNeeded, round, type ScenarioFigures, type ScenarioSpec } from './figures.js';
import { runPhase, type LoadKind } from './load-phases.js';
import { watchReadyz } from './readyz-watch.js';
import { runWorkflow, type Run } from './runs.js';
import { subscribe } from './sse-subscribers.js';
import { resetWorld, runningBatch, say, type World } from './world.js';

/** How long the loaded batch may take to report its first checks before the load starts anyway. */
const FIRST_CHECKS_WAIT_MS = 10_000;

/** The load's requests, built once per scenario: bodies and paths that differ from request to request. */
function loadKinds(world: World, runningBatchId: string, heldBatchIds: readonly string[]) {
  const tag = randomBytes(3).toString('hex');
  let created = 0;
  const createBody = () => {
    const n = created++;
    const fresh = Array.from({ length: FRESH_PER_CREATE }, (_, i) => `load_${tag}_${n}_${i}`);
    const existing = Array.from({ length: EXISTING_PER_CREATE }, (_, i) => world.usernames[(n * EXISTING_PER_CREATE + i) % world.usernames.length]!);
    return JSON.stringify({ hold: true, usernames: [...fresh, ...existing] });
  };
  let picked = 0;
  return {
    creates: (connections: number): LoadKind => ({
      name: 'creates',
      connections,
      requests: [
        {
          method: 'POST',
          path: '/batches',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req: autocannon.Request) => ({ ...req, body: createBody() }),
        },
      ],
    }),
    reads: (connections: number): LoadKind => ({ name: 'reads', connections, requests: [{ method: 'GET', path: `/batches/${runningBatchId}` }] }),
    // each connection resumes a held batch, then pauses it again; another connection may meet it in between (409)
    transitions: (connections: number): LoadKind => ({
      name: 'transitions',
      connections,
      expected: [409],
      requests: [
        {
          method: 'POST',
          setupRequest: (req: autocannon.Request, context: object) => {
            const id = heldBatchIds[picked++ % heldBatchIds.length]!;
            (context as { id?: string }).id = id;
            return { ...req, path: `/batches/${id}/resume` };
          },
        },
        {
          method: 'POST',
          setupRequest: (req: autocannon.Request, context: object) => ({ ...req, path: `/batches/${(context as { id?: string }).id}/pause` }),
        },
      ],
    }),
  };
}

async function createHeld(api: ApiProcess, apiKey: string, username: string): Promise<string> {
  const res = await fetch(`${api.url}/batches`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ hold: true, usernames: [username], name: 'api_load transitions' }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  const id = res.status === 201 ? (JSON.parse(text) as { id?: string }).id : undefined;
  if (!id) throw new Error(`could not create a held batch before the load: ${res.status} ${text.slice(0, 300)}`);
  return id;
}

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
    const [facts] = await world.db.sql<{ status: string; successful_checks: number; failed_checks: number }[]>`
      select status, successful_checks, failed_checks from batches where id = ${batch.batchId}`;
    if (facts?.status !== 'done' || facts.successful_checks !== world.profileIds.length) {
      throw new Error(`${label}: batch ended ${facts?.status} with ${facts?.successful_checks}/${world.profileIds.length} checked, ${facts?.failed_checks} failed`);
    }
    return run;
  } catch (err) {
    // frees the runner for the next scenario (claimNextBatch would hand this batch out again)
    if (!world.interrupted.aborted) await failBatch(world.db.sql, batch.batchId, `benchmark: ${(err as Error).message}`).catch(() => {});
    throw err;
  }
}

export async function runApiLoad(world: World, spec: ScenarioSpec, shutdown: Shutdown): Promise<ScenarioFigures> {
  const o = world.options;
  const profiles = world.profileIds.length;
  const workload = { profiles, chunkSize: spec.chunkSize, lookups: false };
  const limitMs = (o.timeLimitS ?? BATCH_TARGET_S * 5) * 1000;
  say(
    `${spec.name}: the API as a process of its own under ${PHASE_S} s each of creates, reads and a mix (with ${SSE_SUBSCRIBERS} SSE subscribers), ` +
      `while a re-check of ${profiles} profiles runs, ${spec.chunkSize} per request, ${o.proxies} proxies × ${spec.rate}/s paced (burst ${spec.burst}); ` +
      `the same batch unloaded first; about ${BATCH_TARGET_S} s each`,
  );

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

  let heldBatchIds: string[] = [];
  try {
    const unloaded = await runBatch(world, spec, `${spec.name} (unloaded)`, limitMs);
    const unloadedRateLimited = world.sim.stats.rateLimited;
    say(`  ${spec.name}: unloaded in ${round(unloaded.seconds, 2)} s (${unloadedRateLimited} × 429)`);

    heldBatchIds = [];
    for (let i = 0; i < TRANSITION_BATCHES; i++) heldBatchIds.push(await createHeld(api, apiKey, `api_load_held_${i}`));

    // the loaded run: the batch starts, then the phases run while it does
    let batchId = '';
    let claimedAt = 0;
    let settled = false;
    const loadedRun = runBatch(world, spec, spec.name, limitMs, (id) => {
      batchId = id;
      claimedAt = performance.now();
    });
    void loadedRun.then(
      () => (settled = true),
      () => (settled = true),
    );
    while (!settled && !batchId) await sleep(20);
    // a run that failed before its first checks: its error
    if (!batchId) await loadedRun;
    while (!settled && performance.now() - claimedAt < FIRST_CHECKS_WAIT_MS && (await checked(world, batchId)) === 0) await sleep(100);
    if (settled) await loadedRun;
    const loadStartedAfterS = (performance.now() - claimedAt) / 1000;

    let load: Awaited<ReturnType<typeof runLoad>> | undefined;
    let loadError: unknown;
    try {
      load = await runLoad(api, apiKey, loadKinds(world, batchId, heldBatchIds), batchId, spec.name);
    } catch (err) {
      loadError = err;
    }
    const runningAtLoadEnd = !settled;
    const checkedAtLoadEnd = await checked(world, batchId);
    say(`  ${spec.name}: load over ${round((performance.now() - claimedAt) / 1000, 1)} s into the batch; the batch ${runningAtLoadEnd ? `is at ${checkedAtLoadEnd}/${profiles}` : 'had already ended'}`);

    // even when the load failed: the batch must be over before the next scenario claims one
    const loaded = await loadedRun;
    if (!load) throw loadError;
    const { phases, readyz } = load;
    const stats = world.sim.stats;
    const ideal = idealChecksPerSecond(workload, o.proxies, spec.rate);
    const slowdown = loaded.seconds / unloaded.seconds - 1;
    const logs = api.logs();
    const extras: Omit<ApiLoadExtras, 'goals'> = {
      unloaded_seconds: round(unloaded.seconds, 2),
      loaded_seconds: round(loaded.seconds, 2),
      unloaded_rate_limited: unloadedRateLimited,
      batch_slowdown: round(slowdown, 3),
      batch: {
        chunk_size: spec.chunkSize,
        requests_needed: requestsNeeded(workload),
        burst: spec.burst ?? o.burst,
        load_started_after_s: round(loadStartedAfterS, 1),
        running_at_load_end: runningAtLoadEnd,
        checked_at_load_end: checkedAtLoadEnd,
      },
      phases,
      readyz,
      api_log: { warnings: logs.warnings, errors: logs.errors, messages: logs.messages.map(({ message, count }) => ({ message, count })) },
    };
    const figures: ScenarioFigures & ApiLoadExtras = {
      name: spec.name,
      profiles,
      proxies: o.proxies,
      per_proxy_rate: spec.rate,
      latency_ms: spec.latencyMs,
      // the loaded run: the batch as it ran under the load
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
    const missed = figures.goals.filter((g) => !g.met).map((g) => g.goal);
    say(
      `  ${spec.name}: creates ${phases.creates.ok_per_s}/s, reads ${phases.reads.ok_per_s}/s, mix ${phases.mix.ok_per_s}/s; batch ${figures.unloaded_seconds} → ` +
        `${figures.loaded_seconds} s; goals ${missed.length ? `missed: ${missed.join('; ')}` : 'all met'} (the block after the table has the figures)`,
    );
    return figures;
  } finally {
    await leaveNothingQueued(world, heldBatchIds);
    // the runner the API woke on its unpolled task queue
    await world.env.client.workflow.getHandle(QUEUE_WORKFLOW_ID).terminate('benchmark: scenario over').catch(() => {});
    const how = await api.stop();
    say(`  ${spec.name}: API process ${how}`);
  }
}

/** The three phases, one after the other, with /readyz polled throughout. */
async function runLoad(api: ApiProcess, apiKey: string, kinds: ReturnType<typeof loadKinds>, batchId: string, name: string) {
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
