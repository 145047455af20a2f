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
import { startForwardProxies } from '../src/local/forward-proxies.js';
import { createProxy } from '../src/repos/proxies.js';
import { createSession } from '../src/repos/sessions.js';
import { realisticSettings } from '../src/simulator/app.js';
import {
  requestsNeeded,
  round,
  scenarioTimeLimitS,
  windowedLimitSeconds,
  type ScenarioFigures,
  type ScenarioSpec,
} from './figures.js';
import { runWorkflow } from './runs.js';
import { cacheUserIds, clearUserIds, resetWorld, runningBatch, say, type World } from './world.js';

export const REALISTIC = { proxies: 10, sessions: 4, timeScale: 120 } as const;
const CHUNK = 50;

export async function runRealistic(world: World, spec: ScenarioSpec): Promise<ScenarioFigures> {
  const o = world.options;
  const sql = world.db.sql;
  const { proxies: P, sessions: S, timeScale } = REALISTIC;
  const windows = realisticSettings(timeScale).windows;
  const workload = { profiles: world.profileIds.length, chunkSize: CHUNK, lookups: true };
  const needed = requestsNeeded(workload);
  const limitS = windowedLimitSeconds(needed, P, windows, timeScale);
  const timeLimitS = scenarioTimeLimitS(limitS, o.timeLimitS);
  say(
    `${spec.name}: ${workload.profiles} profiles, first check (${needed} requests), ${P} proxies, ${S} sessions, realistic source ×${timeScale}; ` +
      `physical limit ${round(limitS, 1)} s; time limit ${timeLimitS} s`,
  );

  await clearUserIds(world);
  await resetWorld(world, { ...spec, cooldownMs: Math.round(world.defaultCooldownMs / timeScale) });
  world.sim.setOptions({ profile: 'realistic', timeScale });
  world.sim.reset();
  // the run's proxies step aside; ten of the scenario's own, each from its own loopback address
  const own = await startForwardProxies({ count: P, auth: world.proxyAuth, firstLocalAddress: 2 + o.proxies });
  const ownIds: string[] = [];
  const sessionIds: string[] = [];
  const started = new Date();
  try {
    await sql`update proxies set status = 'disabled', disabled_reason = 'operator'`;
    for (const p of own.proxies) ownIds.push((await createProxy(sql, { url: p.url, ...world.proxyAuth })).id);
    for (let i = 0; i < S; i++) sessionIds.push((await createSession(sql, { token: `bench${i}${randomBytes(8).toString('hex')}` })).id);

    const batch = await runningBatch(world, spec.name);
    const keeper = keepSessions(world, timeScale);
    const t0 = performance.now();
    let run;
    try {
      run = await runWorkflow(world, { ...spec, chunkSize: CHUNK, concurrency: P * world.config.PROXY_MAX_IN_FLIGHT }, batch, timeLimitS * 1000);
    } finally {
      keeper.stop();
      await keeper.done;
    }
    const seconds = run.seconds;
    const stats = world.sim.stats;
    const [facts] = await sql<{ ok: number; failed: number }[]>`
      select successful_checks as ok, failed_checks as failed from batches where id = ${batch.batchId}`;
    const answers = await sql<{ username: string; status: string; has_story: boolean | null; error: string | null }[]>`
      select p.username, bp.status, bp.has_story, bp.error from batch_profiles bp join profiles p on p.id = bp.profile_id
      where bp.batch_id = ${batch.batchId}`;
    const truth = (username: string) => {
      const profile = world.sim.simulator.population.lookup(username);
      return profile ? { exists: true, live: world.sim.simulator.population.storyState(profile.userId) === 'live' } : { exists: false, live: false };
    };
    const wronglyFailed = answers.filter((a) => a.status === 'failed' && truth(a.username).exists);
    const wronglyAnswered = answers.filter((a) => a.status === 'completed' && a.has_story !== null && a.has_story !== truth(a.username).live);
    const logs = await sql<{ event_type: string; n: number }[]>`
      select event_type, count(*)::int as n from batch_logs
      where created_at >= ${started} and event_type in ('SESSION_INVALIDATED', 'SESSION_RECOVERED', 'PROXY_COOLDOWN', 'PROXY_DISABLED', 'CHECK_RETRY')
      group by event_type`;
    const count = (type: string) => logs.find((l) => l.event_type === type)?.n ?? 0;
    const sessions = await sql<{ status: string; n: number }[]>`
      select status, count(*)::int as n from sessions where id = any(${sessionIds}::uuid[]) group by status`;
    const ideal = workload.profiles / limitS;
    const figures: ScenarioFigures = {
      name: spec.name,
      profiles: workload.profiles,
      proxies: P,
      per_proxy_rate: round(1000 / Math.max(...windows.map((w) => w.windowMs / timeScale / w.requests)), 3),
      latency_ms: spec.latencyMs,
      seconds: round(seconds, 2),
      checks_per_s: round(workload.profiles / seconds, 1),
      ideal_checks_per_s: round(ideal, 1),
      ratio_to_ideal: round(workload.profiles / seconds / ideal, 3),
      upstream_requests_per_profile: round(stats.requests / workload.profiles, 4),
      max_history_events: run.historyLengths ? Math.max(...run.historyLengths) : null,
      worker_rss_mb: round(process.memoryUsage().rss / 2 ** 20, 0),
      time_scale: timeScale,
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
      sessions: S,
      sessions_invalidated: count('SESSION_INVALIDATED'),
      sessions_recovered: count('SESSION_RECOVERED'),
      sessions_at_end: Object.fromEntries(sessions.map((s) => [s.status, s.n])),
      operator_clears: keeper.clears,
      health_rounds: keeper.rounds,
      proxy_rests: count('PROXY_COOLDOWN'),
      proxies_disabled: count('PROXY_DISABLED'),
      check_retries: count('CHECK_RETRY'),
      successful: facts?.ok ?? 0,
      failed: facts?.failed ?? 0,
      wrongly_failed: wronglyFailed.length,
      wrongly_failed_examples: wronglyFailed.slice(0, 5).map((a) => `${a.username}: ${a.error ?? ''}`.slice(0, 200)),
      wrongly_answered: wronglyAnswered.length,
      learned_rate_per_s: (await sql<{ r: number | null }[]>`
        select learned_rate_per_s as r from proxies where id = any(${ownIds}::uuid[]) order by url`).map((r) => (r.r === null ? null : round(r.r, 3))),
      batch_wall_s: round((performance.now() - t0) / 1000, 1),
    };
    say(
      `  ${spec.name}: ${figures.seconds} s against a limit of ${figures.physical_limit_s} s (${figures.ratio_to_ideal}); ` +
        `${stats.requests} requests, ${stats.rateLimited} × 429 ${JSON.stringify(stats.rateLimitedBy)}; sessions invalidated ` +
        `${figures.sessions_invalidated as number}, recovered ${figures.sessions_recovered as number}, at the end ${JSON.stringify(figures.sessions_at_end)}; ` +
        `${figures.failed as number} failed, ${wronglyFailed.length} wrongly, ${wronglyAnswered.length} wrongly answered`,
    );
    return figures;
  } finally {
    if (!world.interrupted.aborted) {
      await cacheUserIds(world).catch(() => {});
      // the scenario's proxies and sessions leave the pool; the run's come back
      await sql`delete from sessions where id = any(${sessionIds}::uuid[])`.catch(() => {});
      await sql`update proxies set status = 'disabled', disabled_reason = 'operator' where id = any(${ownIds}::uuid[])`.catch(() => {});
      await sql`update proxies set status = 'active', disabled_reason = null where id <> all(${ownIds}::uuid[])`.catch(() => {});
    }
    await own.close().catch(() => {});
  }
}

/**
 * The operator and the proxy-health schedule, time-scaled: every PROXY_HEALTH_INTERVAL_MS / timeScale, the
 * checkpoints are cleared when a session was seen invalid at the previous round (the operator reacting to it),
 * then the product's health round runs.
 */
function keepSessions(world: World, timeScale: number) {
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
