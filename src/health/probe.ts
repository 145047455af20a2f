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
import { transaction, type Sql } from '../db/sql.js';
import type { ProxyPool } from '../pool/pool.js';
import { redact, registerSecret } from '../logging/redact.js';
import { insertLog } from '../repos/logs.js';
import { storableText } from '../db/storable-text.js';
import { UpstreamFailure } from '../upstream/errors.js';
import type { StoryClient, UpstreamTarget } from '../upstream/story-client.js';

/** A user id that costs the source nothing to answer: one id, almost surely without a story. */
const PROBE_USER_ID = '1';

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

export type SessionVerdict = 'valid' | 'invalid' | 'unknown';

interface ProbedProxy {
  id: string;
  url: string;
  username: string | null;
  password: string | null;
  disabled_reason: string | null;
}

/** Whether a failed probe still proved that the request went through the proxy to the source and back. */
function reachedTheSource(err: unknown): boolean {
  if (!(err instanceof UpstreamFailure)) return false;
  if (err.kind === 'proxy_failure' || err.kind === 'upstream_unreachable') return false;
  // a timeout or a reset carries no HTTP status: nothing came back
  return err.status !== undefined;
}

const errorText = (err: unknown) => storableText(redact(err instanceof Error ? err.message : String(err)), 500);

/**
 * Why a probe of `proxy` that failed with `err` leaves it out of use, or null when the failure still proves
 * it works: any answer from the source, except a 403 for a proxy whose address the source refused.
 */
function stillOut(proxy: ProbedProxy, err: unknown): string | null {
  if (!reachedTheSource(err)) return errorText(err);
  if (proxy.disabled_reason === 'blocked' && (err as UpstreamFailure).status === 403) return errorText(err);
  return null;
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

export function createHealthProbe({ sql, pool, client }: { sql: Sql; pool: ProxyPool; client: StoryClient }) {
  // the client ends the request when `signal` aborts, whatever stage it is at (a silent proxy included)
  const probe = (target: UpstreamTarget, signal?: AbortSignal) => client.fetchStories(target, [PROBE_USER_ID], signal);

  async function runningBatchId(): Promise<string | null> {
    const [row] = await sql<{ id: string }[]>`select id from batches where status = 'running' limit 1`;
    return row?.id ?? null;
  }

  /** Proxies out of use for a reason a probe can clear, the longest unchecked first. */
  function proxiesDue(): Promise<ProbedProxy[]> {
    return sql<ProbedProxy[]>`
      select id, url, username, password, disabled_reason from proxies
      where (status = 'disabled' and disabled_reason in ('failures', 'blocked'))
         or (status = 'cooling_down' and rest_reason = 'upstream_unreachable')
      order by last_checked_at asc nulls first, id`;
  }

  /** Brings a proxy that answered back into use, unless it changed meanwhile (an operator's disable stays). */
  async function recoverProxy(p: ProbedProxy): Promise<boolean> {
    const batchId = await runningBatchId();
    return transaction(sql, async (tx) => {
      // the same condition again: an operator may have disabled it meanwhile, which must stay so. The answer
      // was not a refusal: the refusals counted against its address start over
      const [row] = await tx<{ url: string; was: string; reason: string | null }[]>`
        with prev as (
          select id, status, coalesce(disabled_reason, rest_reason) as reason from proxies
          where id = ${p.id}
            and ((status = 'disabled' and disabled_reason in ('failures', 'blocked'))
              or (status = 'cooling_down' and rest_reason = 'upstream_unreachable'))
          for update
        )
        update proxies x set status = 'active', disabled_reason = null, rest_reason = null, rate_limited_until = null,
          consecutive_failures = 0, blocked_strikes = 0, last_error = null, last_checked_at = now()
        from prev where x.id = prev.id
        returning x.url, prev.status as was, prev.reason`;
      if (!row) return false;
      await insertLog(tx, {
        batchId,
        proxyId: p.id,
        level: 'INFO',
        eventType: 'PROXY_RECOVERED',
        message: `proxy ${row.url} answers again and is back in use`,
        details: { previous_status: row.was, previous_reason: row.reason },
      });
      return true;
    });
  }

  /**
   * One probe of one proxy, bounded by `timeoutMs` and by the round (`round`). A probe the round cut off is
   * left as it was (not checked), so the next round takes it first.
   */
  async function probeProxy(p: ProbedProxy, timeoutMs: number, round: AbortSignal): Promise<'recovered' | 'still out' | 'cut off'> {
    registerSecret(p.password);
    const ownTimeout = AbortSignal.timeout(timeoutMs);
    let error: string | null = null;
    try {
      const target = { proxyId: p.id, proxyUrl: p.url, proxyUsername: p.username, proxyPassword: p.password };
      await probe(target, AbortSignal.any([ownTimeout, round]));
    } catch (err) {
      if (round.aborted && !ownTimeout.aborted) return 'cut off';
      error = ownTimeout.aborted ? `no answer within ${timeoutMs} ms` : stillOut(p, err);
    }
    if (error !== null) {
      await sql`update proxies set last_checked_at = now(), last_error = ${error} where id = ${p.id}`;
      return 'still out';
    }
    return (await recoverProxy(p)) ? 'recovered' : 'still out';
  }

  /**
   * Asks the source with the session once, through a leased proxy. `unknown` when no proxy could be leased
   * or the answer says nothing about the session (a rate limit, an outage, no answer before `signal`).
   */
  async function validateSession(sessionId: string, options: { signal?: AbortSignal; leaseWaitMs?: number } = {}): Promise<SessionVerdict> {
    const [session] = await sql<{ id: string; token: string; status: string }[]>`
      select id, token, status from sessions where id = ${sessionId}`;
    if (!session) return 'unknown';
    registerSecret(session.token);
    // a slot without a session of the pool's: the probe brings the session it is about
    const leased = await pool.acquire(`health/session/${sessionId}`, {
      timeoutMs: options.leaseWaitMs ?? 10_000,
      pollMs: 100,
      session: false,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (!leased.ok) return 'unknown';
    const lease = leased.lease;
    const target: UpstreamTarget = {
      proxyId: lease.proxyId,
      proxyUrl: lease.proxyUrl,
      proxyUsername: lease.proxyUsername,
      proxyPassword: lease.proxyPassword,
      sessionToken: session.token,
    };
    let verdict: SessionVerdict = 'valid';
    let error: string | null = null;
    try {
      await probe(target, options.signal);
      await pool.release(lease, { kind: 'success' });
    } catch (err) {
      error = options.signal?.aborted ? 'no answer in time' : errorText(err);
      verdict = err instanceof UpstreamFailure && err.kind === 'session_invalid' ? 'invalid' : 'unknown';
      const outcome =
        err instanceof UpstreamFailure && err.kind === 'rate_limited'
          ? { kind: 'rate_limited' as const, ...((err as { retryAfterMs?: number }).retryAfterMs !== undefined ? { retryAfterMs: (err as { retryAfterMs?: number }).retryAfterMs } : {}) }
          : { kind: 'neutral' as const };
      await pool.release(lease, outcome);
    }
    const batchId = await runningBatchId();
    await transaction(sql, async (tx) => {
      const [row] = await tx<{ was: string; status: string }[]>`
        with prev as (select id, status from sessions where id = ${sessionId} for update)
        update sessions s set last_checked_at = now(), last_error = ${error},
          status = ${verdict === 'unknown' ? tx`s.status` : verdict}
        from prev where s.id = prev.id
        returning prev.status as was, s.status`;
      if (!row || row.was === row.status) return;
      await insertLog(tx, {
        batchId,
        level: row.status === 'valid' ? 'INFO' : 'WARNING',
        eventType: row.status === 'valid' ? 'SESSION_RECOVERED' : 'SESSION_INVALIDATED',
        message: row.status === 'valid' ? `session ${sessionId} is accepted again and back in use` : `session ${sessionId} was rejected upstream and is no longer used`,
        details: { session_id: sessionId, ...(error ? { reason: error } : {}) },
      });
    });
    return verdict;
  }

  /** One round of the proxy-health schedule: proxies and invalid sessions at once, within the budget. */
  async function probeAll(options: RoundOptions = {}): Promise<ProbeReport> {
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
      const [proxies, sessions] = await Promise.all([proxiesDue(), sql<{ id: string }[]>`
        select id from sessions where status = 'invalid' order by last_checked_at asc nulls first, id`]);
      const report: ProbeReport = { proxiesProbed: 0, proxiesRecovered: 0, sessionsProbed: 0, sessionsRecovered: 0, proxiesLeft: 0, sessionsLeft: 0 };
      const proxiesRound = inLanes(proxies, PROXY_LANES, mayStart, async (p) => {
        const outcome = await probeProxy(p, timeoutMs, round);
        beat();
        if (outcome === 'cut off') return;
        report.proxiesProbed++;
        if (outcome === 'recovered') report.proxiesRecovered++;
      });
      const sessionsRound = inLanes(sessions, SESSION_LANES, mayStart, async (s) => {
        const verdict = await validateSession(s.id, { signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), round]), leaseWaitMs: timeoutMs });
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

  return { validateSession, probeAll };
}

export type HealthProbe = ReturnType<typeof createHealthProbe>;
