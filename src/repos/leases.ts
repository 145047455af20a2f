/**
 * The proxy pool's rows: a lease taken on a proxy (with a session), released with what the request's outcome
 * does to the proxy, and the counts the pool waits on. src/pool.ts decides when to lease and how long to wait.
 *
 * Outcomes on release:
 * - success: success_count + 1, failure streak reset.
 * - rate_limited: the proxy rests until now + Retry-After (or PROXY_COOLDOWN_MS); PROXY_COOLDOWN logged.
 *   Not counted as a failure: the proxy works, it is only asked to slow down.
 * - upstream_unreachable: the proxy answered the CONNECT with a 5xx: it works, the upstream is down. It rests
 *   (PROXY_COOLDOWN_MS, PROXY_COOLDOWN logged) without a failure counted, so an outage never disables a pool.
 * - proxy_failure: failure_count + 1, streak + 1; at PROXY_MAX_CONSECUTIVE_FAILURES the proxy is disabled
 *   (disabled_reason 'failures') and PROXY_DISABLED logged. The proxy-health schedule probes it and
 *   re-enables it once it answers; one an operator disabled stays disabled.
 * - session_invalid: the session is marked invalid and SESSION_INVALIDATED logged; the proxy is not blamed.
 * - neutral: the request failed for a reason that is not the proxy's (upstream 5xx, profile not found):
 *   the lease is cleared and nothing is counted. Counting those would disable healthy proxies during an
 *   upstream outage; resetting the streak would hide a proxy that fails only sometimes.
 *
 * Secrets: a Lease carries the proxy password and session token for the request only. Nothing here puts them
 * in a batch log, and both are registered with `redact` as they are read.
 */
import { inTx, type Sql } from '../db.js';
import type { ProxyStatus, RestReason } from '../enums.js';
import { registerSecret } from '../redact.js';
import { insertLog, type Queryable } from './logs.js';

export interface Lease {
  proxyId: string;
  /** `scheme://host:port`, without credentials. */
  proxyUrl: string;
  proxyUsername: string | null;
  proxyPassword: string | null;
  sessionId: string | null;
  sessionToken: string | null;
  holder: string;
  expiresAt: Date;
}

export type LeaseFailureReason = 'none_usable' | 'all_busy' | 'all_cooling_down';

export type LeaseResult =
  | { ok: true; lease: Lease }
  | {
      ok: false;
      /** When the first proxy frees up (cooldown, pacing or lease expiry); null when no proxy is usable at all. */
      retryAt: Date | null;
      /** none_usable: all disabled or none exist; all_busy: some proxy is merely leased; all_cooling_down: every one is resting. */
      reason: LeaseFailureReason;
      /** With all_cooling_down: 'upstream_unreachable' when every resting proxy rests because it could not reach the upstream. */
      restReason?: RestReason;
    };

export type ReleaseOutcome =
  | { kind: 'success' }
  | { kind: 'rate_limited'; retryAfterMs?: number }
  | { kind: 'proxy_failure'; message: string }
  /** The proxy works but could not reach the upstream (CONNECT answered 5xx): it rests, nothing is counted. */
  | { kind: 'upstream_unreachable'; message: string; restMs?: number }
  | { kind: 'session_invalid'; message?: string }
  | { kind: 'neutral' };

interface LeasedProxyRow {
  id: string;
  url: string;
  username: string | null;
  password: string | null;
  lease_expires_at: Date;
}

interface StatsRow {
  total: number;
  disabled: number;
  cooling_down: number;
  resting: number;
  unreachable: number;
  leased: number;
  available: number;
  next_free_at: Date | null;
  free_now: boolean | null;
}

export interface ReleasedRow {
  id: string;
  url: string;
  status: ProxyStatus;
  old_status: ProxyStatus;
  consecutive_failures: number;
  rate_limited_until: Date | null;
}

const interval = (sql: Queryable, ms: number) => sql`(${ms}::float8 * interval '1 millisecond')`;

/** Counts by state and the earliest moment any usable proxy frees up, all against the pool's clock. */
export async function readStats(sql: Queryable, now: Date): Promise<StatsRow> {
  const [row] = await sql<StatsRow[]>`
    with p as (
      select *,
        status = 'disabled' as is_disabled,
        coalesce(rate_limited_until > ${now}::timestamptz, false) as is_cooling,
        coalesce(next_free_at > ${now}::timestamptz, false) as is_paced,
        coalesce(lease_expires_at > ${now}::timestamptz, false) as is_leased,
        greatest(coalesce(rate_limited_until, ${now}::timestamptz), coalesce(next_free_at, ${now}::timestamptz), coalesce(lease_expires_at, ${now}::timestamptz))
          as free_at
      from proxies
    ), s as (
      select
        count(*)::int as total,
        count(*) filter (where is_disabled)::int as disabled,
        count(*) filter (where not is_disabled and is_cooling)::int as cooling_down,
        count(*) filter (where not is_disabled and (is_cooling or is_paced))::int as resting,
        count(*) filter (where not is_disabled and is_cooling and rest_reason = 'upstream_unreachable')::int as unreachable,
        count(*) filter (where not is_disabled and is_leased)::int as leased,
        count(*) filter (where not is_disabled and not is_cooling and not is_paced and not is_leased)::int as available,
        min(free_at) filter (where not is_disabled) as next_free_at
      from p
    )
    select *, next_free_at <= ${now}::timestamptz as free_now from s`;
  if (!row) throw new Error('stats query returned no row');
  return row;
}

/** One attempt to lease the least recently used leasable proxy, and a session for it, at `now`. */
export async function takeLease(sql: Sql, holder: string, leaseMs: number, now: Date): Promise<LeaseResult & { freeNow?: boolean }> {
  return inTx(sql, async (tx) => {
    const [proxy] = await tx<LeasedProxyRow[]>`
      with candidate as (
        select id from proxies
        where status <> 'disabled'
          and (rate_limited_until is null or rate_limited_until <= ${now}::timestamptz)
          and (next_free_at is null or next_free_at <= ${now}::timestamptz)
          and (lease_expires_at is null or lease_expires_at <= ${now}::timestamptz)
        order by last_used_at asc nulls first, id
        limit 1
        for update skip locked
      )
      update proxies p set
        lease_holder = ${holder},
        lease_expires_at = ${now}::timestamptz + ${interval(tx, leaseMs)},
        last_used_at = ${now}::timestamptz,
        -- the cooldown has passed (the candidate filter says so): it reads as active again
        status = case when p.status = 'cooling_down' then 'active' else p.status end,
        rest_reason = null
      from candidate
      where p.id = candidate.id
      returning p.id, p.url, p.username, p.password, p.lease_expires_at`;

    if (!proxy) {
      const s = await readStats(tx, now);
      const enabled = s.total - s.disabled;
      if (enabled === 0) return { ok: false as const, retryAt: null, reason: 'none_usable' as const };
      const allResting = s.resting === enabled;
      return {
        ok: false as const,
        retryAt: s.next_free_at,
        reason: allResting ? ('all_cooling_down' as const) : ('all_busy' as const),
        ...(allResting ? { restReason: s.unreachable === enabled ? ('upstream_unreachable' as const) : ('rate_limited' as const) } : {}),
        freeNow: s.free_now === true,
      };
    }

    // A session paired with this proxy first, else an unpaired one; least recently used among them.
    const [session] = await tx<{ id: string; token: string }[]>`
      with pick as (
        select id from sessions
        where status = 'valid' and (proxy_id = ${proxy.id} or proxy_id is null)
        order by (proxy_id is null), last_used_at asc nulls first, id
        limit 1
        for update skip locked
      )
      update sessions s set last_used_at = now()
      from pick
      where s.id = pick.id
      returning s.id, s.token`;

    registerSecret(proxy.password);
    registerSecret(session?.token);
    const lease: Lease = {
      proxyId: proxy.id,
      proxyUrl: proxy.url,
      proxyUsername: proxy.username,
      proxyPassword: proxy.password,
      sessionId: session?.id ?? null,
      sessionToken: session?.token ?? null,
      holder,
      expiresAt: proxy.lease_expires_at,
    };
    return { ok: true as const, lease };
  });
}

export interface ReleaseRowOptions {
  now: Date;
  batchId: string | null;
  profileId: string | null;
  /** How long a rate-limited or unreachable proxy rests. */
  cooldownMs: number;
  minIntervalMs: number;
  nextFreeAt: Date | undefined;
  /** The failure to store on the proxy, already redacted and storable. */
  lastError: string | null;
  maxConsecutiveFailures: number;
}

/** Ends the lease with the outcome's effect on the proxy (and session), and its batch logs, in one transaction. */
export async function releaseLease(
  sql: Sql,
  l: Lease,
  outcome: ReleaseOutcome,
  options: ReleaseRowOptions,
): Promise<{ row: ReleasedRow | undefined; disabled: boolean; sessionInvalidated: boolean }> {
  const { now, cooldownMs, minIntervalMs, nextFreeAt, lastError, maxConsecutiveFailures } = options;
  const logBase = { batchId: options.batchId, profileId: options.profileId, proxyId: l.proxyId };
  return inTx(sql, async (tx) => {
    const effect =
      outcome.kind === 'success'
        ? tx`, success_count = p.success_count + 1, consecutive_failures = 0`
        : outcome.kind === 'rate_limited'
          ? tx`, status = case when p.status = 'disabled' then 'disabled' else 'cooling_down' end,
               rate_limited_until = ${now}::timestamptz + ${interval(tx, cooldownMs)}, rest_reason = 'rate_limited'`
          : outcome.kind === 'upstream_unreachable'
            ? tx`, status = case when p.status = 'disabled' then 'disabled' else 'cooling_down' end,
                 rate_limited_until = ${now}::timestamptz + ${interval(tx, cooldownMs)},
                 rest_reason = 'upstream_unreachable', last_error = ${lastError}`
            : outcome.kind === 'proxy_failure'
              ? tx`, failure_count = p.failure_count + 1,
                   consecutive_failures = p.consecutive_failures + 1, last_error = ${lastError},
                   status = case when p.consecutive_failures + 1 >= ${maxConsecutiveFailures}
                            then 'disabled' else p.status end,
                   disabled_reason = case when p.status = 'disabled' then p.disabled_reason
                            when p.consecutive_failures + 1 >= ${maxConsecutiveFailures}
                            then 'failures' end`
              : tx``;
    const pacedFrom = minIntervalMs > 0 ? tx`p.last_used_at + ${interval(tx, minIntervalMs)}` : tx`null::timestamptz`;
    const pacing =
      minIntervalMs > 0 || nextFreeAt
        ? tx`, next_free_at = greatest(${pacedFrom}, ${nextFreeAt ?? null}::timestamptz)`
        : tx``;

    // Only the current holder releases: a lease that expired and was reclaimed belongs to someone else now.
    const [row] = await tx<ReleasedRow[]>`
      with mine as (
        select id, status from proxies
        where id = ${l.proxyId} and lease_holder = ${l.holder}
        for update
      )
      update proxies p set lease_holder = null, lease_expires_at = null ${effect} ${pacing}
      from mine
      where p.id = mine.id
      returning p.id, p.url, p.status, mine.status as old_status, p.consecutive_failures, p.rate_limited_until`;

    let disabled = false;
    if (row && (outcome.kind === 'rate_limited' || outcome.kind === 'upstream_unreachable') && row.rate_limited_until) {
      const why = outcome.kind === 'rate_limited' ? 'was rate limited' : 'cannot reach the upstream';
      await insertLog(tx, {
        ...logBase,
        level: 'WARNING',
        eventType: 'PROXY_COOLDOWN',
        message: `proxy ${row.url} ${why} and rests for ${Math.round(cooldownMs / 1000)} s`,
        details: {
          reason: outcome.kind,
          retry_after_ms: cooldownMs,
          until: row.rate_limited_until.toISOString(),
          from_retry_after: outcome.kind === 'rate_limited' && outcome.retryAfterMs !== undefined,
        },
      });
    }
    if (row && outcome.kind === 'proxy_failure' && row.status === 'disabled' && row.old_status !== 'disabled') {
      disabled = true;
      await insertLog(tx, {
        ...logBase,
        level: 'ERROR',
        eventType: 'PROXY_DISABLED',
        message: `proxy ${row.url} disabled after ${row.consecutive_failures} consecutive failures`,
        details: {
          consecutive_failures: row.consecutive_failures,
          max_consecutive_failures: maxConsecutiveFailures,
          error: outcome.message,
        },
      });
    }

    // A session rejected upstream is invalid whoever holds the proxy now: that is a fact about the session.
    let sessionInvalidated = false;
    if (outcome.kind === 'session_invalid' && l.sessionId) {
      const [session] = await tx<{ id: string }[]>`
        update sessions set status = 'invalid' where id = ${l.sessionId} and status = 'valid' returning id`;
      if (session) {
        sessionInvalidated = true;
        await insertLog(tx, {
          ...logBase,
          level: 'WARNING',
          eventType: 'SESSION_INVALIDATED',
          message: `session ${session.id} was rejected upstream and is no longer used`,
          details: { session_id: session.id, reason: outcome.message ?? 'session rejected upstream' },
        });
      }
    }
    return { row, disabled, sessionInvalidated };
  });
}
