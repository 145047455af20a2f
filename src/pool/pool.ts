/**
 * The proxy pool: hands each upstream request a send slot on a proxy (and a session), and learns from how the
 * request went. All state lives in Postgres, so any number of worker processes share one pool, one schedule
 * of send times per proxy and one learned rate per proxy; a crashed holder's slot simply expires and is
 * reclaimed.
 *
 * A proxy is a rate, not a lock: up to PROXY_MAX_IN_FLIGHT requests go through it at once, their send times
 * spaced by its rate (PROXY_MIN_INTERVAL_MS, or what its 429s taught). A request takes a slot (`lease`),
 * waits for the slot's send time (`awaitSendTime`), sends, and hands the slot back with the outcome
 * (`release`). How slots are chosen and what each outcome does to a proxy is in src/pool/lease-types.ts,
 * beside the SQL that does it. This module never puts a lease's secrets in a log line.
 */
import { MAX_SEND_WAIT_MS, type Config } from '../config.js';
import type { Sql } from '../db/sql.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { redact } from '../logging/redact.js';
import type { Lease, LeaseResult, ReleaseOutcome, SlotRules } from './lease-types.js';
import { releaseLease } from './release-lease.js';
import { readStats, reclaimExpiredSlots } from './slot-queries.js';
import { takeLease } from './take-lease.js';
import type { PacingSettings } from './pacing.js';
import { createDatabaseClock } from './database-clock.js';
import { storableText } from '../db/storable-text.js';
import { sleep } from '../process/timeouts.js';

export type { Lease, LeaseFailureReason, LeaseResult, ReleaseOutcome } from './lease-types.js';

export interface ReleaseContext {
  batchId?: string | null;
  profileId?: string | null;
  /** What the request asked about (a username, or the user ids of a stories request), for a refused session's evidence. */
  subject?: string;
  /**
   * When the request actually left (after its send time, perhaps late: a busy machine's timers run late). The
   * proxy's next send is then kept at least one interval after it, so a late send and an on-time one never
   * reach the source closer together than the proxy's rate allows.
   */
  sentAt?: Date;
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
  /** With room for one more request now (not full, schedule within reach). */
  available: number;
  /** With at least one request in flight. */
  leased: number;
  coolingDown: number;
  disabled: number;
  /** When a proxy may next have a slot (now or earlier when one is available now); null when none is usable. */
  nextFreeAt: Date | null;
  /**
   * Requests the pool may carry at once: each usable proxy's PROXY_MAX_IN_FLIGHT, fewer for one paced slower than
   * a send time is reserved ahead (at a 20 s pace, one), and while any session is valid, at most valid sessions ×
   * SESSION_MAX_IN_FLIGHT.
   */
  sendSlots: number;
}

export interface AcquireOptions {
  /** Give up (returning the last failure) after this long. */
  timeoutMs: number;
  leaseMs?: number;
  /** Longest single wait between attempts: a lease may be released long before it expires. */
  pollMs?: number;
  signal?: AbortSignal;
  /** False: a slot without a session (a probe that brings its own). */
  session?: boolean;
}

export interface ProxyPool {
  /** One attempt: a lease (with a session unless `session` is false), or when to try again. */
  lease(holder: string, opts?: { leaseMs?: number; session?: boolean }): Promise<LeaseResult>;
  /** Leases, waiting (without spinning) until a proxy frees up or `timeoutMs` passes. Returns at once when none is usable. */
  acquire(holder: string, opts: AcquireOptions): Promise<LeaseResult>;
  /** Resolves at the lease's send time (at once when it has come), or when `signal` aborts. */
  awaitSendTime(lease: Lease, signal?: AbortSignal): Promise<void>;
  release(lease: Lease, outcome: ReleaseOutcome, context?: ReleaseContext): Promise<ReleaseResult>;
  stats(): Promise<PoolStats>;
  /** The pool's clock: every time it reports (send times, retryAt) is on it. */
  now(): Promise<Date>;
}

/** Read on every call, so a caller that changes its config object (the benchmark, between scenarios) is followed. */
export type PoolConfig = Pick<
  Config,
  | 'PROXY_COOLDOWN_MS'
  | 'PROXY_MAX_CONSECUTIVE_FAILURES'
  | 'PROXY_LEASE_MS'
  | 'PROXY_MIN_INTERVAL_MS'
  | 'PROXY_MAX_IN_FLIGHT'
  | 'SESSION_MAX_IN_FLIGHT'
>;

export interface ProxyPoolOptions {
  sql: Sql;
  config: PoolConfig;
  logger?: Logger;
  /**
   * The pool's notion of now for cooldowns, pacing and lease expiry (default: the database's clock, so that every
   * worker's times compare, whatever its machine's clock says). Tests on Temporal's time-skipping server pass the
   * server's clock, so an hour-long rest ends when that hour is skipped.
   */
  clock?: () => Date | Promise<Date>;
}
// A Retry-After longer than a day is a misbehaving upstream, not advice worth following.
const MAX_COOLDOWN_MS = 24 * 60 * 60 * 1000;
// Attempts within one lease() when a free proxy was only skipped because a concurrent lease held its row lock.
const LOCK_RACE_ATTEMPTS = 3;
const LOCK_RACE_RETRY_MS = 20;
/** Slots of crashed holders are looked for at most this often (their leases last PROXY_LEASE_MS anyway). */
const RECLAIM_EVERY_MS = 1_000;

const round2 = (n: number | null) => (n === null ? null : Math.round(n * 100) / 100);

function clampMs(ms: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (ms === undefined || !Number.isFinite(ms)) return fallback;
  return Math.min(max, Math.max(0, Math.round(ms)));
}

/** What one pool's steps share. */
interface PoolContext {
  sql: Sql;
  config: PoolConfig;
  clock: () => Date | Promise<Date>;
  log: Logger;
  /** Waiters in acquire() of this process, woken by any release here (other processes' releases are seen by polling). */
  waiters: Set<() => void>;
  /** When this process last looked for the slots of crashed holders (Date.now()). */
  lastReclaim: number;
}

export function createProxyPool(options: ProxyPoolOptions): ProxyPool {
  const { sql, config } = options;
  const ctx: PoolContext = {
    sql,
    config,
    clock: options.clock ?? createDatabaseClock(sql),
    log: options.logger ?? createLogger({ component: 'proxy-pool' }),
    waiters: new Set(),
    lastReclaim: 0,
  };
  return {
    lease: (holder, opts) => lease(ctx, holder, opts),
    acquire: (holder, opts) => acquire(ctx, holder, opts),
    awaitSendTime: (l, signal) => awaitSendTime(ctx, l, signal),
    release: (l, outcome, context) => release(ctx, l, outcome, context),
    stats: () => stats(ctx),
    now: async () => ctx.clock(),
  };
}

const rules = (config: PoolConfig): SlotRules => ({
  maxInFlight: config.PROXY_MAX_IN_FLIGHT,
  minIntervalMs: config.PROXY_MIN_INTERVAL_MS,
  maxWaitMs: MAX_SEND_WAIT_MS,
  sessionMaxInFlight: config.SESSION_MAX_IN_FLIGHT,
});

const pacing = (config: PoolConfig): PacingSettings => ({
  minIntervalMs: config.PROXY_MIN_INTERVAL_MS,
  cooldownMs: config.PROXY_COOLDOWN_MS,
  maxRestMs: MAX_COOLDOWN_MS,
  maxInFlight: config.PROXY_MAX_IN_FLIGHT,
});

const wakeWaiters = (ctx: PoolContext) => {
  for (const wake of [...ctx.waiters]) wake();
};

/** Resolves after `ms`, at a release in this process, or when `signal` aborts, whichever comes first. */
function waitFor(ctx: PoolContext, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      ctx.waiters.delete(done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    ctx.waiters.add(done);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Frees the slots of crashed holders, at most every RECLAIM_EVERY_MS. */
async function reclaimNowAndThen(ctx: PoolContext): Promise<void> {
  if (Date.now() - ctx.lastReclaim < RECLAIM_EVERY_MS) return;
  ctx.lastReclaim = Date.now();
  const freed = await reclaimExpiredSlots(ctx.sql, await ctx.clock());
  if (freed > 0) ctx.log.warn('expired proxy slots reclaimed: their holders never released them', { slots: freed });
}

async function lease(ctx: PoolContext, holder: string, opts: { leaseMs?: number; session?: boolean } = {}): Promise<LeaseResult> {
  if (!holder) throw new Error('a lease needs a holder');
  const leaseMs = Math.max(1, clampMs(opts.leaseMs, ctx.config.PROXY_LEASE_MS));
  await reclaimNowAndThen(ctx);
  for (let attempt = 1; ; attempt++) {
    const result = await takeLease(ctx.sql, holder, leaseMs, await ctx.clock(), rules(ctx.config), opts.session ?? true);
    if (result.ok) {
      ctx.log.debug('proxy slot taken', { proxy_id: result.lease.proxyId, holder, session_id: result.lease.sessionId });
      return result;
    }
    const { freeNow, ...failure } = result;
    // A proxy was free but row-locked by a concurrent lease that then did not take it (or took another):
    // try again rather than send the caller to sleep until a time that has already come.
    if (!freeNow) return failure;
    if (attempt >= LOCK_RACE_ATTEMPTS) return { ...failure, retryAt: new Date(Date.now() + LOCK_RACE_RETRY_MS) };
  }
}

async function acquire(ctx: PoolContext, holder: string, opts: AcquireOptions): Promise<LeaseResult> {
  const deadline = Date.now() + Math.max(0, opts.timeoutMs);
  const pollMs = Math.max(1, opts.pollMs ?? 250);
  for (;;) {
    const result = await lease(ctx, holder, { ...(opts.leaseMs !== undefined ? { leaseMs: opts.leaseMs } : {}), ...(opts.session === false ? { session: false } : {}) });
    if (result.ok || result.retryAt === null) return result;
    const left = deadline - Date.now();
    if (left <= 0 || opts.signal?.aborted) return result;
    // A retryAt already come is a full proxy's: when one of its requests ends is not known. Wait for a
    // release here, or pollMs for one elsewhere, instead of asking again at once (a busy loop on Postgres).
    // (retryAt is on the pool's clock; the wait is a duration, on this machine's.)
    const untilRetry = result.retryAt.getTime() - (await ctx.clock()).getTime();
    await waitFor(ctx, Math.min(untilRetry > 0 ? untilRetry : pollMs, pollMs, left), opts.signal);
  }
}

async function release(ctx: PoolContext, l: Lease, outcome: ReleaseOutcome, context: ReleaseContext = {}): Promise<ReleaseResult> {
  const { config } = ctx;
  // a 429's rest is the pacing's to choose (src/pool/pacing.ts); an unreachable upstream or a refused address rests this long
  const cooldownMs =
    outcome.kind === 'upstream_unreachable'
      ? clampMs(outcome.restMs, config.PROXY_COOLDOWN_MS, MAX_COOLDOWN_MS)
      : Math.min(config.PROXY_COOLDOWN_MS, MAX_COOLDOWN_MS);

  // stored on the proxy and shown by the API: never a secret, always storable text
  const lastError = 'message' in outcome && outcome.message !== undefined ? storableText(redact(outcome.message), 500) : null;
  const now = await ctx.clock();
  const result = await releaseLease(ctx.sql, l, outcome, {
    now,
    batchId: context.batchId ?? null,
    profileId: context.profileId ?? null,
    cooldownMs,
    lastError,
    maxConsecutiveFailures: config.PROXY_MAX_CONSECUTIVE_FAILURES,
    sentAt: context.sentAt ?? null,
    pacing: pacing(config),
    ...(context.subject !== undefined ? { subject: context.subject } : {}),
  });

  wakeWaiters(ctx);
  logRelease(ctx.log, l, outcome, context, result);
  const { row, disabled, sessionInvalidated } = result;
  return { released: row !== undefined, disabled, sessionInvalidated };
}

/** The log lines of a release: what it did to the proxy and the session, never a secret of the lease. */
function logRelease(log: Logger, l: Lease, outcome: ReleaseOutcome, context: ReleaseContext, result: Awaited<ReturnType<typeof releaseLease>>): void {
  const { row, disabled, sessionInvalidated } = result;
  const fields = { proxy_id: l.proxyId, batch_id: context.batchId ?? undefined, holder: l.holder };
  if (!row) {
    log.warn('stale slot release ignored: the slot expired and was reclaimed', {
      ...fields,
      outcome: outcome.kind,
    });
  } else if (outcome.kind === 'rate_limited' || outcome.kind === 'upstream_unreachable' || outcome.kind === 'address_blocked') {
    const what = { rate_limited: 'proxy rate limited, cooling down', upstream_unreachable: 'proxy cannot reach the upstream, resting', address_blocked: 'proxy address refused by the source (403)' };
    log.warn(what[outcome.kind], {
      ...fields,
      url: row.url,
      until: row.rate_limited_until?.toISOString(),
      ...(row.pacing_note ? { pacing: row.pacing_note, learned_rate_per_s: round2(row.learned_rate_per_s) } : {}),
    });
  }
  if (disabled) {
    log.error(outcome.kind === 'address_blocked' ? 'proxy disabled: the source refuses its address' : 'proxy disabled after consecutive failures', {
      ...fields,
      url: row?.url,
      consecutive_failures: row?.consecutive_failures,
      error: 'message' in outcome ? outcome.message : undefined,
    });
  } else if (row && outcome.kind === 'proxy_failure') {
    log.warn('proxy failure', { ...fields, url: row.url, consecutive_failures: row.consecutive_failures, error: outcome.message });
  }
  if (sessionInvalidated) log.warn('session invalidated', { ...fields, session_id: l.sessionId });
}

async function awaitSendTime(ctx: PoolContext, l: Lease, signal?: AbortSignal): Promise<void> {
  await sleep(l.sendAt.getTime() - (await ctx.clock()).getTime(), signal);
}

async function stats(ctx: PoolContext): Promise<PoolStats> {
  const s = await readStats(ctx.sql, await ctx.clock(), rules(ctx.config));
  return {
    total: s.total,
    usable: s.total - s.disabled - s.cooling_down,
    available: s.available,
    leased: s.leased,
    coolingDown: s.cooling_down,
    disabled: s.disabled,
    nextFreeAt: s.total - s.disabled > 0 ? s.next_free_at : null,
    sendSlots: Math.min(
      s.paced_slots,
      s.valid_sessions > 0 ? s.valid_sessions * ctx.config.SESSION_MAX_IN_FLIGHT : Number.MAX_SAFE_INTEGER,
    ),
  };
}
