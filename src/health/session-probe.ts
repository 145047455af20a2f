/**
 * The probe of one session (see src/health/probe.ts): one request with it through a leased proxy, and the
 * session's status as the answer says, with SESSION_RECOVERED or SESSION_INVALIDATED when it changed.
 */
import { transaction, type Sql } from '../db/sql.js';
import { registerSecret } from '../logging/redact.js';
import type { Lease, ReleaseOutcome } from '../pool/pool.js';
import { insertLog } from '../repos/logs.js';
import { UpstreamFailure } from '../upstream/errors.js';
import type { UpstreamTarget } from '../upstream/story-client.js';
import { askSource, errorText, runningBatchId, type HealthDeps } from './probe-request.js';

export type SessionVerdict = 'valid' | 'invalid' | 'unknown';

export interface SessionProbeOptions {
  signal?: AbortSignal;
  leaseWaitMs?: number;
}

/**
 * Asks the source with the session once, through a leased proxy. `unknown` when no proxy could be leased
 * or the answer says nothing about the session (a rate limit, an outage, no answer before `signal`).
 */
export async function validateSession(deps: HealthDeps, sessionId: string, options: SessionProbeOptions = {}): Promise<SessionVerdict> {
  const { sql, pool } = deps;
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
  const { verdict, error } = await askWithSession(deps, leased.lease, session.token, options.signal);
  await recordVerdict(sql, sessionId, verdict, error);
  return verdict;
}

/** The one request with the session, its lease released with the outcome: the verdict, and the failure if any. */
async function askWithSession(
  { pool, client }: HealthDeps,
  lease: Lease,
  sessionToken: string,
  signal: AbortSignal | undefined,
): Promise<{ verdict: SessionVerdict; error: string | null }> {
  const target: UpstreamTarget = {
    proxyId: lease.proxyId,
    proxyUrl: lease.proxyUrl,
    proxyUsername: lease.proxyUsername,
    proxyPassword: lease.proxyPassword,
    sessionToken,
  };
  try {
    await askSource(client, target, signal);
    await pool.release(lease, { kind: 'success' });
    return { verdict: 'valid', error: null };
  } catch (err) {
    const error = signal?.aborted ? 'no answer in time' : errorText(err);
    const verdict = err instanceof UpstreamFailure && err.kind === 'session_invalid' ? 'invalid' : 'unknown';
    await pool.release(lease, releaseOutcomeOf(err));
    return { verdict, error };
  }
}

/** A 429 is the source's word on the proxy; any other failure of a session probe says nothing of the proxy. */
function releaseOutcomeOf(err: unknown): ReleaseOutcome {
  return err instanceof UpstreamFailure && err.kind === 'rate_limited'
    ? { kind: 'rate_limited' as const, ...((err as { retryAfterMs?: number }).retryAfterMs !== undefined ? { retryAfterMs: (err as { retryAfterMs?: number }).retryAfterMs } : {}) }
    : { kind: 'neutral' as const };
}

/** Stores the probe on the session (its status only when the verdict says one), and logs a change of status. */
async function recordVerdict(sql: Sql, sessionId: string, verdict: SessionVerdict, error: string | null): Promise<void> {
  const batchId = await runningBatchId(sql);
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
}
