/**
 * Self-healing of the pool: one cheap upstream request (the stories of a single id) through each proxy that
 * is out of use for a reason that can pass, and with each invalid session.
 *
 * - A proxy disabled by its failures, or resting because it could not reach the upstream, that now gets an
 *   answer from the source (any answer: even a 429 or a 401 proves the way through it works) is active
 *   again, with a PROXY_RECOVERED log. A proxy an operator disabled is never touched, and a rate-limit rest
 *   is the source's own request, honoured to its end.
 * - An invalid session that the source accepts again is valid, with a SESSION_RECOVERED log.
 * Every probe records `last_checked_at` and, when it fails, `last_error`.
 *
 * Run by the `proxy-health` Temporal Schedule (src/health-schedule.ts) and, for one session, on demand by
 * `POST /sessions/:id/validate`.
 */
import { transaction, type Sql } from './db.js';
import type { ProxyPool } from './pool.js';
import { redact, registerSecret } from './redact.js';
import { insertLog } from './repos/logs.js';
import { storableText } from './storable-text.js';
import { UpstreamFailure } from './upstream/errors.js';
import type { StoryClient, UpstreamTarget } from './upstream/story-client.js';

/** A user id that costs the source nothing to answer: one id, almost surely without a story. */
const PROBE_USER_ID = '1';

export interface ProbeReport {
  proxiesProbed: number;
  proxiesRecovered: number;
  sessionsProbed: number;
  sessionsRecovered: number;
}

export type SessionVerdict = 'valid' | 'invalid' | 'unknown';

/** Whether a failed probe still proved that the request went through the proxy to the source and back. */
function reachedTheSource(err: unknown): boolean {
  if (!(err instanceof UpstreamFailure)) return false;
  if (err.kind === 'proxy_failure' || err.kind === 'upstream_unreachable') return false;
  // a timeout or a reset carries no HTTP status: nothing came back
  return err.status !== undefined;
}

const errorText = (err: unknown) => storableText(redact(err instanceof Error ? err.message : String(err)), 500);

export function createHealthProbe({ sql, pool, client }: { sql: Sql; pool: ProxyPool; client: StoryClient }) {
  const probe = (target: UpstreamTarget) => client.fetchStories(target, [PROBE_USER_ID]);

  async function runningBatchId(): Promise<string | null> {
    const [row] = await sql<{ id: string }[]>`select id from batches where status = 'running' limit 1`;
    return row?.id ?? null;
  }

  async function probeProxies(): Promise<{ probed: number; recovered: number }> {
    const proxies = await sql<{ id: string; url: string; username: string | null; password: string | null }[]>`
      select id, url, username, password from proxies
      where (status = 'disabled' and disabled_reason = 'failures')
         or (status = 'cooling_down' and rest_reason = 'upstream_unreachable')
      order by id`;
    let recovered = 0;
    for (const p of proxies) {
      registerSecret(p.password);
      let error: string | null = null;
      try {
        await probe({ proxyId: p.id, proxyUrl: p.url, proxyUsername: p.username, proxyPassword: p.password });
      } catch (err) {
        if (!reachedTheSource(err)) error = errorText(err);
      }
      if (error !== null) {
        await sql`update proxies set last_checked_at = now(), last_error = ${error} where id = ${p.id}`;
        continue;
      }
      const batchId = await runningBatchId();
      const back = await transaction(sql, async (tx) => {
        // the same condition again: an operator may have disabled it meanwhile, which must stay so
        const [row] = await tx<{ url: string; was: string }[]>`
          with prev as (
            select id, status from proxies
            where id = ${p.id}
              and ((status = 'disabled' and disabled_reason = 'failures')
                or (status = 'cooling_down' and rest_reason = 'upstream_unreachable'))
            for update
          )
          update proxies x set status = 'active', disabled_reason = null, rest_reason = null, rate_limited_until = null,
            consecutive_failures = 0, last_error = null, last_checked_at = now()
          from prev where x.id = prev.id
          returning x.url, prev.status as was`;
        if (!row) return false;
        await insertLog(tx, {
          batchId,
          proxyId: p.id,
          level: 'INFO',
          eventType: 'PROXY_RECOVERED',
          message: `proxy ${row.url} answers again and is back in use`,
          details: { previous_status: row.was },
        });
        return true;
      });
      if (back) recovered++;
    }
    return { probed: proxies.length, recovered };
  }

  /**
   * Asks the source with the session once, through a leased proxy. `unknown` when no proxy could be leased
   * or the answer says nothing about the session (a rate limit, an outage).
   */
  async function validateSession(sessionId: string): Promise<SessionVerdict> {
    const [session] = await sql<{ id: string; token: string; status: string }[]>`
      select id, token, status from sessions where id = ${sessionId}`;
    if (!session) return 'unknown';
    registerSecret(session.token);
    const leased = await pool.acquire(`health/session/${sessionId}`, { timeoutMs: 10_000, pollMs: 100 });
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
      await probe(target);
      await pool.release(lease, { kind: 'success' });
    } catch (err) {
      error = errorText(err);
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

  async function probeSessions(): Promise<{ probed: number; recovered: number }> {
    const invalid = await sql<{ id: string }[]>`select id from sessions where status = 'invalid' order by id`;
    let recovered = 0;
    for (const s of invalid) if ((await validateSession(s.id)) === 'valid') recovered++;
    return { probed: invalid.length, recovered };
  }

  /** One round of the proxy-health schedule. */
  async function probeAll(): Promise<ProbeReport> {
    const proxies = await probeProxies();
    const sessions = await probeSessions();
    return { proxiesProbed: proxies.probed, proxiesRecovered: proxies.recovered, sessionsProbed: sessions.probed, sessionsRecovered: sessions.recovered };
  }

  return { probeProxies, probeSessions, validateSession, probeAll };
}

export type HealthProbe = ReturnType<typeof createHealthProbe>;
