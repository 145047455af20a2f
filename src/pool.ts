/**
 * The proxy pool: hands each upstream request a proxy (and a session) that nobody else is using, and
 * learns from how the request went. All state lives in Postgres, so any number of worker processes share
 * one pool, and a crashed holder's lease simply expires and is reclaimed.
 *
 * A proxy is leasable when it is not disabled, not cooling down after a rate limit (rate_limited_until),
 * not paced (next_free_at) and not leased (or its lease has expired). Among those, the least recently used
 * one wins, which spreads requests evenly and gives each proxy the longest rest. `FOR UPDATE SKIP LOCKED`
 * lets concurrent leases pick different proxies without waiting on each other.
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
 * Secrets: a Lease carries the proxy password and session token for the request only. This module never
 * puts them in a log line or a batch log, and registers them with `redact` as it reads them, so that any
 * other path that stringifies them is scrubbed too.
 */
import type { Config } from './config.js';
import type { Sql } from './db.js';
import { createLogger, type Logger } from './logger.js';
import { redact, registerSecret } from './redact.js';
import { storableText } from './storable-text.js';
import { insertLog, type Queryable } from './repos/logs.js';

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
      restReason?: 'rate_limited' | 'upstream_unreachable';
    };

export type ReleaseOutcome =
  | { kind: 'success' }
  | { kind: 'rate_limited'; retryAfterMs?: number }
  | { kind: 'proxy_failure'; message: string }
  /** The proxy works but could not reach the upstream (CONNECT answered 5xx): it rests, nothing is counted. */
  | { kind: 'upstream_unreachable'; message: string; restMs?: number }
  | { kind: 'session_invalid'; message?: string }
  | { kind: 'neutral' };

export interface ReleaseContext {
  batchId?: string | null;
  profileId?: string | null;
  /**
   * Pacing: the proxy is not leased again before `minIntervalMs` after this request started (its lease
   * time), so request starts through one proxy are spaced at least that far apart.
   */
  minIntervalMs?: number;
  /**
   * Pacing for a lease that sent several requests: not leased again before this moment (the last request's
   * start plus the interval). Wins over `minIntervalMs` when later.
   */
  nextFreeAt?: Date;
}

export interface ReleaseResult {
  /** False when the lease was no longer ours (expired and reclaimed, or the proxy deleted): nothing changed on the proxy. */
  released: boolean;
  /** This release disabled the proxy. */
  disabled: boolean;
  /** This release marked the lease's session invalid. */
  sessionInvalidated: boolean;
}

export interface PoolStats {
  total: number;
  /** Not disabled and not cooling down (leased or paced ones count: they free up shortly). */
  usable: number;
  /** Leasable right now. */
  available: number;
  leased: number;
  coolingDown: number;
  disabled: number;
  /** When a proxy is next leasable (now or earlier when one is available now); null when none is usable. */
  nextFreeAt: Date | null;
}

export interface AcquireOptions {
  /** Give up (returning the last failure) after this long. */
  timeoutMs: number;
  leaseMs?: number;
  /** Longest single wait between attempts: a lease may be released long before it expires. */
  pollMs?: number;
  signal?: AbortSignal;
}

export interface ProxyPool {
  /** One attempt: a lease, or when to try again. */
  lease(holder: string, opts?: { leaseMs?: number }): Promise<LeaseResult>;
  /** Leases, waiting (without spinning) until a proxy frees up or `timeoutMs` passes. Returns at once when none is usable. */
  acquire(holder: string, opts: AcquireOptions): Promise<LeaseResult>;
  release(lease: Lease, outcome: ReleaseOutcome, context?: ReleaseContext): Promise<ReleaseResult>;
  stats(): Promise<PoolStats>;
}

export type PoolConfig = Pick<Config, 'PROXY_COOLDOWN_MS' | 'PROXY_MAX_CONSECUTIVE_FAILURES' | 'PROXY_LEASE_MS'>;

export interface ProxyPoolOptions {
  sql: Sql;
  config: PoolConfig;
  logger?: Logger;
  /**
   * The pool's notion of now for cooldowns, pacing and lease expiry (default: the wall clock). Tests on
   * Temporal's time-skipping server pass the server's clock, so an hour-long rest ends when that hour is skipped.
   */
  clock?: () => Date | Promise<Date>;
  /** Default pacing for every release that does not name its own. */
  minIntervalMs?: number;
}

// A Retry-After longer than a day is a misbehaving upstream, not advice worth following.
const MAX_COOLDOWN_MS = 24 * 60 * 60 * 1000;
// Attempts within one lease() when a free proxy was only skipped because a concurrent lease held its row lock.
const LOCK_RACE_ATTEMPTS = 3;
const LOCK_RACE_RETRY_MS = 20;

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

interface ReleasedRow {
  id: string;
  url: string;
  status: string;
  old_status: string;
  consecutive_failures: number;
  rate_limited_until: Date | null;
}

const interval = (sql: Queryable, ms: number) => sql`(${ms}::float8 * interval '1 millisecond')`;

function clampMs(ms: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (ms === undefined || !Number.isFinite(ms)) return fallback;
  return Math.min(max, Math.max(0, Math.round(ms)));
}

/** Counts by state and the earliest moment any usable proxy frees up, all against the pool's clock. */
async function readStats(sql: Queryable, now: Date): Promise<StatsRow> {
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

export function createProxyPool(options: ProxyPoolOptions): ProxyPool {
  const { sql, config } = options;
  const clock = options.clock ?? (() => new Date());
  const log = options.logger ?? createLogger({ component: 'proxy-pool' });
  // Waiters in acquire() of this process, woken by any release here (other processes' releases are seen by polling).
  const waiters = new Set<() => void>();

  const wakeWaiters = () => {
    for (const wake of [...waiters]) wake();
  };

  function waitUntil(at: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, at - Date.now()));
      waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async function leaseOnce(holder: string, leaseMs: number): Promise<LeaseResult & { freeNow?: boolean }> {
    const now = await clock();
    return sql.begin(async (tx) => {
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

  async function lease(holder: string, opts: { leaseMs?: number } = {}): Promise<LeaseResult> {
    if (!holder) throw new Error('a lease needs a holder');
    const leaseMs = Math.max(1, clampMs(opts.leaseMs, config.PROXY_LEASE_MS));
    for (let attempt = 1; ; attempt++) {
      const result = await leaseOnce(holder, leaseMs);
      if (result.ok) {
        log.debug('proxy leased', { proxy_id: result.lease.proxyId, holder, session_id: result.lease.sessionId });
        return result;
      }
      const { freeNow, ...failure } = result;
      // A proxy was free but row-locked by a concurrent lease that then did not take it (or took another):
      // try again rather than send the caller to sleep until a time that has already come.
      if (!freeNow) return failure;
      if (attempt >= LOCK_RACE_ATTEMPTS) return { ...failure, retryAt: new Date(Date.now() + LOCK_RACE_RETRY_MS) };
    }
  }

  async function acquire(holder: string, opts: AcquireOptions): Promise<LeaseResult> {
    const deadline = Date.now() + Math.max(0, opts.timeoutMs);
    const pollMs = Math.max(1, opts.pollMs ?? 250);
    for (;;) {
      const result = await lease(holder, { leaseMs: opts.leaseMs });
      if (result.ok || result.retryAt === null) return result;
      const now = Date.now();
      if (now >= deadline || opts.signal?.aborted) return result;
      await waitUntil(Math.min(result.retryAt.getTime(), now + pollMs, deadline), opts.signal);
    }
  }

  async function release(l: Lease, outcome: ReleaseOutcome, context: ReleaseContext = {}): Promise<ReleaseResult> {
    const minIntervalMs = clampMs(context.minIntervalMs ?? options.minIntervalMs, 0);
    const cooldownMs =
      outcome.kind === 'rate_limited'
        ? clampMs(outcome.retryAfterMs, config.PROXY_COOLDOWN_MS, MAX_COOLDOWN_MS)
        : outcome.kind === 'upstream_unreachable'
          ? clampMs(outcome.restMs, config.PROXY_COOLDOWN_MS, MAX_COOLDOWN_MS)
          : 0;
    const logBase = { batchId: context.batchId ?? null, profileId: context.profileId ?? null, proxyId: l.proxyId };

    // stored on the proxy and shown by the API: never a secret, always storable text
    const lastError = 'message' in outcome && outcome.message !== undefined ? storableText(redact(outcome.message), 500) : null;
    const now = await clock();
    const result = await sql.begin(async (tx) => {
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
                     status = case when p.consecutive_failures + 1 >= ${config.PROXY_MAX_CONSECUTIVE_FAILURES}
                              then 'disabled' else p.status end,
                     disabled_reason = case when p.status = 'disabled' then p.disabled_reason
                              when p.consecutive_failures + 1 >= ${config.PROXY_MAX_CONSECUTIVE_FAILURES}
                              then 'failures' end`
                : tx``;
      const pacedFrom = minIntervalMs > 0 ? tx`p.last_used_at + ${interval(tx, minIntervalMs)}` : tx`null::timestamptz`;
      const pacing =
        minIntervalMs > 0 || context.nextFreeAt
          ? tx`, next_free_at = greatest(${pacedFrom}, ${context.nextFreeAt ?? null}::timestamptz)`
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
            max_consecutive_failures: config.PROXY_MAX_CONSECUTIVE_FAILURES,
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

    wakeWaiters();
    const { row, disabled, sessionInvalidated } = result;
    const fields = { proxy_id: l.proxyId, batch_id: context.batchId ?? undefined, holder: l.holder };
    if (!row) {
      log.warn('stale lease release ignored: the lease expired and may belong to another holder', {
        ...fields,
        outcome: outcome.kind,
      });
    } else if (outcome.kind === 'rate_limited' || outcome.kind === 'upstream_unreachable') {
      log.warn(outcome.kind === 'rate_limited' ? 'proxy rate limited, cooling down' : 'proxy cannot reach the upstream, resting', {
        ...fields,
        url: row.url,
        retry_after_ms: cooldownMs,
        until: row.rate_limited_until?.toISOString(),
      });
    } else if (disabled) {
      log.error('proxy disabled after consecutive failures', {
        ...fields,
        url: row.url,
        consecutive_failures: row.consecutive_failures,
        error: outcome.kind === 'proxy_failure' ? outcome.message : undefined,
      });
    } else if (outcome.kind === 'proxy_failure') {
      log.warn('proxy failure', { ...fields, url: row.url, consecutive_failures: row.consecutive_failures, error: outcome.message });
    }
    if (sessionInvalidated) log.warn('session invalidated', { ...fields, session_id: l.sessionId });
    return { released: row !== undefined, disabled, sessionInvalidated };
  }

  async function stats(): Promise<PoolStats> {
    const s = await readStats(sql, await clock());
    return {
      total: s.total,
      usable: s.total - s.disabled - s.cooling_down,
      available: s.available,
      leased: s.leased,
      coolingDown: s.cooling_down,
      disabled: s.disabled,
      nextFreeAt: s.total - s.disabled > 0 ? s.next_free_at : null,
    };
  }

  return { lease, acquire, release, stats };
}
