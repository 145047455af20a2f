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
 * What each outcome of a request does to its proxy is in src/repos/leases.ts, beside the SQL that does it.
 * This module never puts a lease's secrets in a log line.
 */
import type { Config } from './config.js';
import type { Sql } from './db.js';
import { createLogger, type Logger } from './logger.js';
import { redact } from './redact.js';
import { readStats, releaseLease, takeLease, type Lease, type LeaseResult, type ReleaseOutcome } from './repos/leases.js';
import { storableText } from './storable-text.js';

export type { Lease, LeaseFailureReason, LeaseResult, ReleaseOutcome } from './repos/leases.js';

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

function clampMs(ms: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (ms === undefined || !Number.isFinite(ms)) return fallback;
  return Math.min(max, Math.max(0, Math.round(ms)));
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

  async function lease(holder: string, opts: { leaseMs?: number } = {}): Promise<LeaseResult> {
    if (!holder) throw new Error('a lease needs a holder');
    const leaseMs = Math.max(1, clampMs(opts.leaseMs, config.PROXY_LEASE_MS));
    for (let attempt = 1; ; attempt++) {
      const result = await takeLease(sql, holder, leaseMs, await clock());
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

    // stored on the proxy and shown by the API: never a secret, always storable text
    const lastError = 'message' in outcome && outcome.message !== undefined ? storableText(redact(outcome.message), 500) : null;
    const now = await clock();
    const result = await releaseLease(sql, l, outcome, {
      now,
      batchId: context.batchId ?? null,
      profileId: context.profileId ?? null,
      cooldownMs,
      minIntervalMs,
      nextFreeAt: context.nextFreeAt,
      lastError,
      maxConsecutiveFailures: config.PROXY_MAX_CONSECUTIVE_FAILURES,
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
