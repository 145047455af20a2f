/**
 * `realistic`: a first check of the N profiles against the simulator's `realistic` profile (docs/upstream.md, "How
 * the real source behaves": sliding windows of 3 a minute, 20 per 11 minutes and 200 an hour per address, 429s
 * without Retry-After, 2% of requests refused at random, logged-out story requests sent to the login page,
 * sessions checkpointed after 500 requests, rare 5xx bursts, a few answers of 25 s), time-scaled by TIME_SCALE
 * so that hours play in minutes; the proxies' cooldown (PROXY_COOLDOWN_MS) and the proxy-health schedule are
 * scaled alike.
 *
 * Through 10 proxies of its own (the run's are disabled meanwhile, as an operator would) and 4 sessions. 4 × 500
 * requests is less than a first check of 5,000 profiles needs (5,100), so sessions get checkpointed on the way:
 * the bench plays the operator who clears a checkpoint (the simulator's `clearCheckpoints`) one health round
 * after a session was seen invalid, and runs the product's health round (createHealthProbe's `probeAll`, what the
 * proxy-health schedule runs) every PROXY_HEALTH_INTERVAL_MS / TIME_SCALE, which finds the sessions accepted again.
 *
 * Figures: the time against the physical limit (the windows' greedy schedule, figures.ts windowedLimitSeconds),
 * the 429s by cause, the sessions invalidated and recovered (SESSION_INVALIDATED / SESSION_RECOVERED logs) and
 * their status at the end, and the profiles wrongly failed (failed though the simulator has them: every one)
 * and wrongly answered (a story seen where the simulator has none live, or missed where it has one).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startForwardProxies, type ForwardProxies } from '../src/local/forward-proxies.js';
import { createProxy } from '../src/repos/proxies.js';
import { createSession } from '../src/repos/sessions.js';
import { realisticSettings, type SimulatorStats } from '../src/simulator/app.js';
import {
  requestsNeeded,
  round,
  scenarioTimeLimitS,
  windowedLimitSeconds,
  type ScenarioFigures,
  type ScenarioSpec,
  type Workload,
} from './figures.js';
import type { RealisticExtras } from './realistic-report.js';
import { runWorkflow, type Run } from './runs.js';
import { cacheUserIds, clearUserIds, resetWorld, runningBatch, say, type World } from './world.js';

export const REALISTIC = { proxies: 10, sessions: 4, timeScale: 120 } as const;
const CHUNK = 50;

export async function runRealistic(world: World, spec: ScenarioSpec): Promise<ScenarioFigures> {
  const plan = realisticPlan(world);
  announce(spec, plan);
  await prepareSource(world, spec);
  // the run's proxies step aside; ten of the scenario's own, each from its own loopback address
  const own = await startForwardProxies({ count: REALISTIC.proxies, auth: world.proxyAuth, firstLocalAddress: 2 + world.options.proxies });
  const pool: OwnPool = { proxyIds: [], sessionIds: [] };
  const started = new Date();
  try {
    await enlistOwnPool(world, own, pool);
    const batch = await runningBatch(world, spec.name);
    const t0 = performance.now();
    const { run, keeper } = await runKeepingSessions(world, spec, batch, plan.timeLimitS);
    const figures = await realisticFigures(world, spec, plan, { run, keeper, batchId: batch.batchId, pool, started, t0 });
    reportRealistic(figures);
    return figures;
  } finally {
    await restorePool(world, own, pool);
  }
}

/** The first check's workload, and the physical limit the source's windows set on it. */
interface RealisticPlan {
  workload: Workload;
  needed: number;
  windows: ReturnType<typeof realisticSettings>['windows'];
  limitS: number;
  timeLimitS: number;
}

function realisticPlan(world: World): RealisticPlan {
  const { proxies: P, timeScale } = REALISTIC;
  const windows = realisticSettings(timeScale).windows;
  const workload = { profiles: world.profileIds.length, chunkSize: CHUNK, lookups: true };
  const needed = requestsNeeded(workload);
  const limitS = windowedLimitSeconds(needed, P, windows, timeScale);
  return { workload, needed, windows, limitS, timeLimitS: scenarioTimeLimitS(limitS, world.options.timeLimitS) };
}

function announce(spec: ScenarioSpec, { workload, needed, limitS, timeLimitS }: RealisticPlan): void {
  const { proxies: P, sessions: S, timeScale } = REALISTIC;
  say(
    `${spec.name}: ${workload.profiles} profiles, first check (${needed} requests), ${P} proxies, ${S} sessions, realistic source ×${timeScale}; ` +
      `physical limit ${round(limitS, 1)} s; time limit ${timeLimitS} s`,
  );
}

/** No user id cached, the proxies' cooldown scaled, the simulator playing the realistic source from a clean count. */
async function prepareSource(world: World, spec: ScenarioSpec): Promise<void> {
  const { timeScale } = REALISTIC;
  await clearUserIds(world);
  await resetWorld(world, { ...spec, cooldownMs: Math.round(world.defaultCooldownMs / timeScale) });
  world.sim.setOptions({ profile: 'realistic', timeScale });
  world.sim.reset();
}

/** The scenario's own proxies and sessions, by id: added as they are created, so that the clean-up finds every one. */
interface OwnPool {
  proxyIds: string[];
  sessionIds: string[];
}

/** The run's proxies disabled (as an operator would), the scenario's own proxies and sessions registered. */
async function enlistOwnPool(world: World, own: ForwardProxies, pool: OwnPool): Promise<void> {
  const sql = world.db.sql;
  await sql`update proxies set status = 'disabled', disabled_reason = 'operator'`;
  for (const p of own.proxies) pool.proxyIds.push((await createProxy(sql, { url: p.url, ...world.proxyAuth })).id);
  for (let i = 0; i < REALISTIC.sessions; i++) pool.sessionIds.push((await createSession(sql, { token: `bench${i}${randomBytes(8).toString('hex')}` })).id);
}

/** The batch through BatchWorkflow while the operator and the health schedule keep the sessions. */
async function runKeepingSessions(world: World, spec: ScenarioSpec, batch: { batchId: string; workflowId: string }, timeLimitS: number) {
  const keeper = keepSessions(world, REALISTIC.timeScale);
  try {
    const concurrency = REALISTIC.proxies * world.config.PROXY_MAX_IN_FLIGHT;
    const run = await runWorkflow(world, { ...spec, chunkSize: CHUNK, concurrency }, batch, timeLimitS * 1000);
    return { run, keeper };
  } finally {
    keeper.stop();
    await keeper.done;
  }
}

/** The scenario's proxies and sessions leave the pool; the run's come back. */
async function restorePool(world: World, own: ForwardProxies, { proxyIds, sessionIds }: OwnPool): Promise<void> {
  const sql = world.db.sql;
  if (!world.interrupted.aborted) {
    await cacheUserIds(world).catch(() => {});
    await sql`delete from sessions where id = any(${sessionIds}::uuid[])`.catch(() => {});
    await sql`update proxies set status = 'disabled', disabled_reason = 'operator' where id = any(${proxyIds}::uuid[])`.catch(() => {});
    await sql`update proxies set status = 'active', disabled_reason = null where id <> all(${proxyIds}::uuid[])`.catch(() => {});
  }
  await own.close().catch(() => {});
}

/** What the run left to measure. */
interface RealisticRun {
  run: Run;
  keeper: SessionKeeper;
  batchId: string;
  pool: OwnPool;
  /** When the scenario's pool was set up: the logs from then on are its own. */
  started: Date;
  /** performance.now() when the batch was about to run. */
  t0: number;
}

async function realisticFigures(world: World, spec: ScenarioSpec, plan: RealisticPlan, r: RealisticRun): Promise<ScenarioFigures & RealisticExtras> {
  const sql = world.db.sql;
  const stats = world.sim.stats;
  const [facts] = await sql<{ ok: number; failed: number }[]>`
    select successful_checks as ok, failed_checks as failed from batches where id = ${r.batchId}`;
  const { wronglyFailed, wronglyAnswered } = await wrongAnswers(world, r.batchId);
  const count = await poolEvents(world, r.started);
  const sessions = await sql<{ status: string; n: number }[]>`
    select status, count(*)::int as n from sessions where id = any(${r.pool.sessionIds}::uuid[]) group by status`;
  return {
    ...tableFigures(spec, plan, r.run, stats.requests),
    ...sourceFigures(stats, plan),
    sessions: REALISTIC.sessions,
    sessions_invalidated: count('SESSION_INVALIDATED'),
    sessions_recovered: count('SESSION_RECOVERED'),
    sessions_at_end: Object.fromEntries(sessions.map((s) => [s.status, s.n])),
    operator_clears: r.keeper.clears,
    health_rounds: r.keeper.rounds,
    proxy_rests: count('PROXY_COOLDOWN'),
    proxies_disabled: count('PROXY_DISABLED'),
    check_retries: count('CHECK_RETRY'),
    successful: facts?.ok ?? 0,
    failed: facts?.failed ?? 0,
    wrongly_failed: wronglyFailed.length,
    wrongly_failed_examples: wronglyFailed.slice(0, 5).map((a) => `${a.username}: ${a.error ?? ''}`.slice(0, 200)),
    wrongly_answered: wronglyAnswered.length,
    learned_rate_per_s: (await sql<{ r: number | null }[]>`
      select learned_rate_per_s as r from proxies where id = any(${r.pool.proxyIds}::uuid[]) order by url`).map((row) => (row.r === null ? null : round(row.r, 3))),
    batch_wall_s: round((performance.now() - r.t0) / 1000, 1),
  };
}

/** The summary table's columns: the time against the windows' physical limit. */
function tableFigures(spec: ScenarioSpec, { workload, windows, limitS }: RealisticPlan, run: Run, requests: number): ScenarioFigures {
  const { proxies: P, timeScale } = REALISTIC;
  const ideal = workload.profiles / limitS;
  return {
    name: spec.name,
    profiles: workload.profiles,
    proxies: P,
    per_proxy_rate: round(1000 / Math.max(...windows.map((w) => w.windowMs / timeScale / w.requests)), 3),
    latency_ms: spec.latencyMs,
    seconds: round(run.seconds, 2),
    checks_per_s: round(workload.profiles / run.seconds, 1),
    ideal_checks_per_s: round(ideal, 1),
    ratio_to_ideal: round(workload.profiles / run.seconds / ideal, 3),
    upstream_requests_per_profile: round(requests / workload.profiles, 4),
    max_history_events: run.historyLengths ? Math.max(...run.historyLengths) : null,
    worker_rss_mb: round(process.memoryUsage().rss / 2 ** 20, 0),
  };
}

/** What the realistic source answered, by kind. */
function sourceFigures(stats: SimulatorStats, { needed, limitS }: RealisticPlan) {
  return {
    time_scale: REALISTIC.timeScale,
    physical_limit_s: round(limitS, 1),
    requests_needed: needed,
    requests: stats.requests,
    rate_limited: stats.rateLimited,
    rate_limited_by: { ...stats.rateLimitedBy },
    rate_limited_share: stats.requests ? round(stats.rateLimited / stats.requests, 4) : 0,
    requests_by_status: { ...stats.byStatus },
    redirects: stats.redirects,
    checkpoints: stats.checkpoints,
    sessions_checkpointed: stats.checkpointedSessions,
    error_bursts: { ...stats.errorBursts },
    slow_answers: stats.faults.slow,
  };
}

/**
 * The batch's answers against the simulator's truth: failed though the profile exists (every one does), or a
 * story seen where none is live, or missed where one is.
 */
async function wrongAnswers(world: World, batchId: string) {
  const answers = await world.db.sql<{ username: string; status: string; has_story: boolean | null; error: string | null }[]>`
    select p.username, bp.status, bp.has_story, bp.error from batch_profiles bp join profiles p on p.id = bp.profile_id
    where bp.batch_id = ${batchId}`;
  const population = world.sim.simulator.population;
  const truth = (username: string) => {
    const profile = population.lookup(username);
    return profile ? { exists: true, live: population.storyState(profile.userId) === 'live' } : { exists: false, live: false };
  };
  return {
    wronglyFailed: answers.filter((a) => a.status === 'failed' && truth(a.username).exists),
    wronglyAnswered: answers.filter((a) => a.status === 'completed' && a.has_story !== null && a.has_story !== truth(a.username).live),
  };
}

/** How many of each pool event the batch logged since `started`. */
async function poolEvents(world: World, started: Date): Promise<(type: string) => number> {
  const logs = await world.db.sql<{ event_type: string; n: number }[]>`
    select event_type, count(*)::int as n from batch_logs
    where created_at >= ${started} and event_type in ('SESSION_INVALIDATED', 'SESSION_RECOVERED', 'PROXY_COOLDOWN', 'PROXY_DISABLED', 'CHECK_RETRY')
    group by event_type`;
  return (type) => logs.find((l) => l.event_type === type)?.n ?? 0;
}

function reportRealistic(figures: ScenarioFigures & RealisticExtras): void {
  say(
    `  ${figures.name}: ${figures.seconds} s against a limit of ${figures.physical_limit_s} s (${figures.ratio_to_ideal}); ` +
      `${figures.requests} requests, ${figures.rate_limited} × 429 ${JSON.stringify(figures.rate_limited_by)}; sessions invalidated ` +
      `${figures.sessions_invalidated}, recovered ${figures.sessions_recovered}, at the end ${JSON.stringify(figures.sessions_at_end)}; ` +
      `${figures.failed} failed, ${figures.wrongly_failed} wrongly, ${figures.wrongly_answered} wrongly answered`,
  );
}

interface SessionKeeper {
  /** Settles once the keeper has stopped. */
  done: Promise<void>;
  stop(): void;
  /** Times the checkpoints were cleared. */
  readonly clears: number;
  /** Health rounds run. */
  readonly rounds: number;
}

/**
 * The operator and the proxy-health schedule, time-scaled: every PROXY_HEALTH_INTERVAL_MS / timeScale, the
 * checkpoints are cleared when a session was seen invalid at the previous round (the operator reacting to it),
 * then the product's health round runs.
 */
function keepSessions(world: World, timeScale: number): SessionKeeper {
  const everyMs = Math.max(1_000, world.config.PROXY_HEALTH_INTERVAL_MS / timeScale);
  const state = { clears: 0, rounds: 0 };
  let stopped = false;
  let seenInvalid = false;
  const done = (async () => {
    while (!stopped && !world.interrupted.aborted) {
      await sleep(everyMs);
      if (stopped) break;
      if (seenInvalid) {
        world.sim.setOptions({ clearCheckpoints: true });
        state.clears++;
      }
      await world.deps.health.probeAll({ budgetMs: Math.max(5_000, everyMs) }).catch((err: unknown) => say(`  health round failed: ${(err as Error).message}`));
      state.rounds++;
      const [row] = await world.db.sql<{ n: number }[]>`select count(*)::int as n from sessions where status = 'invalid'`;
      seenInvalid = (row?.n ?? 0) > 0;
    }
  })();
  return {
    done,
    stop: () => {
      stopped = true;
    },
    get clears() {
      return state.clears;
    },
    get rounds() {
      return state.rounds;
    },
  };
}
