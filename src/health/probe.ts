/**
 * Self-healing of the pool: one cheap upstream request (the stories of a single id) through each proxy that
 * is out of use for a reason that can pass, and with each invalid session.
 *
 * - A proxy disabled by its failures, or resting because it could not reach the upstream, that now gets an
 *   answer from the source (any answer: even a 429 or a 401 proves the way through it works) is active
 *   again, with a PROXY_RECOVERED log. A proxy disabled because the source refused its address ('blocked')
 *   is probed too, but only an answer other than a 403 brings it back: a 403 proves it is still refused.
 *   A proxy an operator disabled is never touched, and a rate-limit rest is the source's own request,
 *   honoured to its end.
 * - An invalid session that the source accepts again is valid, with a SESSION_RECOVERED log.
 * Every probe records `last_checked_at` and, when it fails, `last_error`.
 *
 * A round has a budget (`RoundOptions.budgetMs`, below the activity's timeout): proxies are probed
 * PROXY_LANES at a time and sessions SESSION_LANES at a time, both at once, each probe bounded by its own
 * timeout, and a probe starts only while it can end within the budget. What is not probed in time waits for
 * the next round, which takes the longest unchecked first (`last_checked_at`), so a few dozen proxies that
 * never answer neither push a round past its timeout nor keep anything else from its turn.
 *
 * Run by the `proxy-health` Temporal Schedule (src/worker/health-schedule.ts) and, for one session, on demand by
 * `POST /sessions/:id/validate`.
 */
import { proxiesDue, probeProxy } from './proxy-probe.js';
import type { HealthDeps } from './probe-request.js';
import { validateSession, type SessionProbeOptions } from './session-probe.js';

export type { SessionVerdict } from './session-probe.js';

/** Proxies probed at once in a round. */
export const PROXY_LANES = 8;
/** Sessions probed at once in a round, alongside the proxies (each holds a slot of a working proxy). */
export const SESSION_LANES = 2;
/** Each probe's own bound: a proxy that never answers costs a lane no more than this. */
export const PROBE_TIMEOUT_MS = 10_000;
/** A round whose activity timeout is not known (called outside an activity) ends within this. */
export const DEFAULT_ROUND_BUDGET_MS = 4 * 60_000;
/** How often a round reports that it is alive (the activity's heartbeat), whatever its probes are doing. */
const HEARTBEAT_EVERY_MS = 5_000;

export interface ProbeReport {
  proxiesProbed: number;
  proxiesRecovered: number;
  sessionsProbed: number;
  sessionsRecovered: number;
  /** Due for a probe, but not reached within the round's budget: first in line next round. */
  proxiesLeft: number;
  sessionsLeft: number;
}

export interface RoundOptions {
  /** How long the round may take from its start; no probe starts that could not end within it. */
  budgetMs?: number;
  /** The timeout of the activity the round runs in: without `budgetMs`, the budget is a share of it. */
  activityTimeoutMs?: number;
  /** Each probe's own bound (PROBE_TIMEOUT_MS unless given). */
  probeTimeoutMs?: number;
  /** Called while the round runs (the activity's heartbeat). */
  heartbeat?: () => void;
  /** Ends the round early (the activity was cancelled). */
  signal?: AbortSignal;
}

/**
 * The budget of a round run by an activity that may take `activityTimeoutMs`: most of it, leaving time for
 * the last probes' writes and the activity's answer.
 */
export function roundBudgetMs(activityTimeoutMs: number | undefined): number {
  return activityTimeoutMs ? Math.floor(activityTimeoutMs * 0.8) : DEFAULT_ROUND_BUDGET_MS;
}

/**
 * Runs `work` on `items` in their order, `lanes` at a time, starting each only while `mayStart()` allows.
 * Returns how many were started. A failure stops the lanes from starting more, and is thrown once all
 * started work has ended.
 */
async function inLanes<T>(items: readonly T[], lanes: number, mayStart: () => boolean, work: (item: T) => Promise<void>): Promise<number> {
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < items.length && mayStart()) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const ended = await Promise.allSettled(Array.from({ length: Math.min(lanes, items.length) }, lane));
  const failure = ended.find((e) => e.status === 'rejected');
  if (failure) throw (failure as PromiseRejectedResult).reason;
  return next;
}

export function createHealthProbe(deps: HealthDeps) {
  return {
    validateSession: (sessionId: string, options?: SessionProbeOptions) => validateSession(deps, sessionId, options),
    probeAll: (options?: RoundOptions) => probeAll(deps, options),
  };
}

export type HealthProbe = ReturnType<typeof createHealthProbe>;

/** One round of the proxy-health schedule: proxies and invalid sessions at once, within the budget. */
async function probeAll(deps: HealthDeps, options: RoundOptions = {}): Promise<ProbeReport> {
  const budgetMs = options.budgetMs ?? roundBudgetMs(options.activityTimeoutMs);
  const timeoutMs = Math.min(options.probeTimeoutMs ?? PROBE_TIMEOUT_MS, budgetMs);
  const deadline = Date.now() + budgetMs;
  // at the deadline (or when the activity is cancelled) whatever still runs is cut off
  const round = options.signal ? AbortSignal.any([AbortSignal.timeout(budgetMs), options.signal]) : AbortSignal.timeout(budgetMs);
  const mayStart = () => !round.aborted && deadline - Date.now() >= timeoutMs;
  const beat = options.heartbeat ?? (() => {});
  const heartbeats = setInterval(beat, HEARTBEAT_EVERY_MS);
  heartbeats.unref();
  try {
    const [proxies, sessions] = await Promise.all([proxiesDue(deps.sql), deps.sql<{ id: string }[]>`
      select id from sessions where status = 'invalid' order by last_checked_at asc nulls first, id`]);
    const report: ProbeReport = { proxiesProbed: 0, proxiesRecovered: 0, sessionsProbed: 0, sessionsRecovered: 0, proxiesLeft: 0, sessionsLeft: 0 };
    const proxiesRound = inLanes(proxies, PROXY_LANES, mayStart, async (p) => {
      const outcome = await probeProxy(deps.sql, deps.client, p, timeoutMs, round);
      beat();
      if (outcome === 'cut off') return;
      report.proxiesProbed++;
      if (outcome === 'recovered') report.proxiesRecovered++;
    });
    const sessionsRound = inLanes(sessions, SESSION_LANES, mayStart, async (s) => {
      const verdict = await validateSession(deps, s.id, { signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), round]), leaseWaitMs: timeoutMs });
      beat();
      report.sessionsProbed++;
      if (verdict === 'valid') report.sessionsRecovered++;
    });
    const ended = await Promise.allSettled([proxiesRound, sessionsRound]);
    for (const e of ended) if (e.status === 'rejected') throw e.reason;
    report.proxiesLeft = proxies.length - report.proxiesProbed;
    report.sessionsLeft = sessions.length - report.sessionsProbed;
    return report;
  } finally {
    clearInterval(heartbeats);
  }
}

