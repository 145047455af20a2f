/**
 * One upstream request of a chunk, sent through a send slot on a proxy (and a session) taken from the pool for
 * that request alone, at the send time the proxy's schedule gave it. A failure the policy sends elsewhere (a
 * rate limit, a proxy fault, an unreachable upstream) is sent again at once through another proxy, up to
 * MAX_SENDS_PER_REQUEST times. Every slot is released exactly once, with the outcome its request had; the
 * slot is handed back before anything is written to Postgres.
 */
import { MAX_SEND_WAIT_MS, type Config } from '../config.js';
import type { Sql } from '../db/sql.js';
import type { StallReason } from '../enums.js';
import { failurePolicy, type FailurePolicy } from './failure-policy.js';
import { observePoolWait } from '../metrics/worker.js';
import type { Lease, ProxyPool, ReleaseOutcome } from '../pool/pool.js';
import { insertLog } from '../repos/logs.js';
import { UpstreamFailure } from '../upstream/errors.js';
import type { UpstreamTarget } from '../upstream/story-client.js';

/** Longest wait inside a check for a proxy that is only busy, or rests for a moment. */
const BUSY_WAIT_MS = 10_000;

/**
 * The least wait before a chunk whose proxies are all busy tries again: it has already waited BUSY_WAIT_MS for a
 * release in this attempt, so a slot is not about to free up here.
 */
const MIN_BUSY_RETRY_MS = 250;

/** Sends of one request through one proxy after another within an attempt, before the attempt gives up. */
const MAX_SENDS_PER_REQUEST = 8;

/** Nothing could be sent: why (null: every usable proxy is only busy), and how long until it may be tried again. */
export interface Blocked {
  blocked: StallReason | null;
  delayMs: number;
  message: string;
}

/** How a request ended after every send it was allowed. `Held` is what the gate answered when it held it back. */
export type Sent<T, Held> =
  | { ok: true; value: T; proxyId: string }
  /** The source answered with a failure the policy does not send elsewhere, or every send failed. */
  | { ok: false; err: UpstreamFailure; policy: FailurePolicy; proxyId: string }
  | ({ ok: false } & Blocked)
  | { ok: false; held: Held };

export interface RequestHooks {
  signal?: AbortSignal;
  /** Called after every upstream request and while waiting (activity heartbeat). */
  heartbeat?: () => void;
  /**
   * When the attempt must be over (ms, on performance.now()): the activity's start-to-close timeout. No request
   * starts that could not end before it: at a slow pace a chunk goes on in a fresh attempt instead of timing out.
   */
  deadline?: number;
}

export interface SenderOptions<Held> {
  sql: Sql;
  pool: ProxyPool;
  config: Pick<Config, 'PROXY_LEASE_MS' | 'CHECK_TIMEOUT_MS'>;
  batchId: string;
  /** Who holds the leases (activity id and attempt). */
  holder: string;
  hooks: RequestHooks;
  /** The pool's clock. */
  now: () => Promise<Date>;
  /** While blocked other than by a rate-limit rest, look again this often. */
  blockedRecheckMs: number;
  /** Asked before every send: a reason to send nothing more, or null. */
  gate: () => Promise<Held | null>;
  /** Called once, with the first proxy leased, before its request is sent. */
  onFirstLease: (proxyId: string) => Promise<void>;
}

const targetOf = (lease: Lease): UpstreamTarget => ({
  proxyId: lease.proxyId,
  proxyUrl: lease.proxyUrl,
  proxyUsername: lease.proxyUsername,
  proxyPassword: lease.proxyPassword,
  sessionToken: lease.sessionToken,
});

export function createSender<Held>(options: SenderOptions<Held>) {
  const { hooks, config } = options;
  let requests = 0;
  let leasedBefore = false;

  /**
   * Whether a request started now could outlast the attempt (its longest wait for a slot and its send time, and
   * its timeout). Every attempt sends at least one request, so a short timeout still makes progress.
   */
  const outOfTime = () =>
    requests > 0 &&
    hooks.deadline !== undefined &&
    hooks.deadline - performance.now() < BUSY_WAIT_MS + MAX_SEND_WAIT_MS + config.CHECK_TIMEOUT_MS;

  /**
   * One upstream request about `profiles` of them, sent through one proxy after another while the policy says so.
   * `subject` names what it asks about (a username, or the stories' ids): a session refused for two different
   * subjects is invalid, for one it may be the request's oddity.
   */
  const send = async <T>(profiles: number, subject: string, call: (target: UpstreamTarget) => Promise<T>): Promise<Sent<T, Held>> => {
    for (let sends = 1; ; sends++) {
      hooks.signal?.throwIfAborted();
      const held = await options.gate();
      if (held) return { ok: false, held };
      if (outOfTime()) return { ok: false, blocked: null, delayMs: MIN_BUSY_RETRY_MS, message: 'the attempt has used its time: the chunk goes on in the next one' };
      const leaseStarted = performance.now();
      const lease = await leaseProxy(options);
      if (!('proxyId' in lease)) return { ok: false, ...lease };
      const leaseWaitMs = performance.now() - leaseStarted;
      if (!leasedBefore) {
        leasedBefore = true;
        await options.onFirstLease(lease.proxyId);
      }
      const sent = await sendThrough<T, Held>(options, lease, { profiles, subject, leaseWaitMs, onSent: () => requests++ }, call);
      if ('policy' in sent && sent.policy.next === 'retry_elsewhere' && sends < MAX_SENDS_PER_REQUEST) continue;
      return sent;
    }
  };

  return { send, requests: () => requests };
}

/** Leases a proxy for one request: at once, or after a short wait for one that is busy or resting briefly. */
async function leaseProxy<Held>({ pool, holder, hooks, config, now, blockedRecheckMs }: SenderOptions<Held>): Promise<Lease | Blocked> {
  const nowMs = async () => (await now()).getTime();
  const leaseMs = config.PROXY_LEASE_MS;
  let leased = await pool.lease(holder, { leaseMs });
  if (!leased.ok && leased.retryAt && leased.retryAt.getTime() - (await nowMs()) <= BUSY_WAIT_MS) {
    hooks.heartbeat?.();
    leased = await pool.acquire(holder, { timeoutMs: BUSY_WAIT_MS, pollMs: 100, signal: hooks.signal, leaseMs });
    hooks.heartbeat?.();
  }
  if (leased.ok) return leased.lease;
  const untilFree = leased.retryAt ? Math.max(0, leased.retryAt.getTime() - (await nowMs())) : blockedRecheckMs;
  if (leased.reason === 'all_busy') {
    // every usable proxy is full or paced further out than this attempt waits: come back when the earliest
    // slot opens (a proxy at a 20 s pace is 20 s away), never at once: that would be a busy loop through Temporal
    return { blocked: null, delayMs: Math.max(untilFree, MIN_BUSY_RETRY_MS), message: 'every usable proxy is busy' };
  }
  const blocked: StallReason =
    leased.reason === 'all_cooling_down' && leased.restReason === 'upstream_unreachable' ? 'upstream_unreachable' : 'no_usable_proxy';
  // a rate-limit rest is the source's request: waited out whole. Otherwise look again now and then: the
  // health schedule or an operator may bring a proxy back long before its rest would end
  return {
    blocked,
    delayMs: blocked === 'no_usable_proxy' && leased.restReason === 'rate_limited' ? untilFree : Math.min(untilFree, blockedRecheckMs),
    message: leased.reason === 'none_usable' ? 'no proxy is usable (none enabled)' : `every proxy is resting (${leased.restReason ?? 'rate limited'})`,
  };
}

/** One send of a request through a leased proxy. */
interface SendThrough {
  profiles: number;
  subject: string;
  /** How long taking the lease waited (ms), counted with the wait for the send time. */
  leaseWaitMs: number;
  /** Called as the request leaves. */
  onSent: () => void;
}

/**
 * The request sent through `lease` at its send time, the lease released with its outcome (before anything is
 * written to Postgres). A failure comes back with the policy that says whether to send it elsewhere.
 */
async function sendThrough<T, Held>(
  { sql, pool, batchId, hooks, now }: SenderOptions<Held>,
  lease: Lease,
  { profiles, subject, leaseWaitMs, onSent }: SendThrough,
  call: (target: UpstreamTarget) => Promise<T>,
): Promise<Sent<T, Held>> {
  const scope = leaseScope(pool, batchId, lease, subject);
  try {
    // the proxy's schedule gave this request a send time: keep to it, so its rate holds whoever sends
    const paceStarted = performance.now();
    await pool.awaitSendTime(lease, hooks.signal);
    observePoolWait((leaseWaitMs + performance.now() - paceStarted) / 1000);
    hooks.signal?.throwIfAborted();
    scope.sentAt = await now();
    onSent();
    let value: T;
    try {
      value = await call(targetOf(lease));
    } catch (err) {
      hooks.heartbeat?.();
      if (!(err instanceof UpstreamFailure)) throw err;
      const policy = failurePolicy(err, { hadSession: lease.sessionId !== null });
      await scope.release(policy.release);
      if (err.kind === 'rate_limited') await logRateLimited(sql, batchId, lease.proxyId, err, profiles);
      return { ok: false, err, policy, proxyId: lease.proxyId };
    }
    hooks.heartbeat?.();
    // the proxy's part is over: hand it on before writing to Postgres
    await scope.release({ kind: 'success' });
    return { ok: true, value, proxyId: lease.proxyId };
  } finally {
    // whatever else ended the request (an abort, a bug): the proxy is not the cause
    await scope.release({ kind: 'neutral' }).catch(() => {});
  }
}

/**
 * A lease for one request, released exactly once: the first release that succeeds records the outcome,
 * later ones (the `finally` of every path) do nothing.
 */
function leaseScope(pool: ProxyPool, batchId: string, lease: Lease, subject: string) {
  let released = false;
  return {
    /** When the request actually left (unset: it never did). */
    sentAt: undefined as Date | undefined,
    async release(outcome: ReleaseOutcome): Promise<void> {
      if (released) return;
      await pool.release(lease, outcome, { batchId, subject, ...(this.sentAt ? { sentAt: this.sentAt } : {}) });
      // only once it worked: a release that failed is tried again, as neutral, on the way out
      released = true;
    },
  };
}

async function logRateLimited(sql: Sql, batchId: string, proxyId: string, err: UpstreamFailure, profiles: number): Promise<void> {
  const retryAfterMs = (err as { retryAfterMs?: number }).retryAfterMs;
  await insertLog(sql, {
    batchId,
    proxyId,
    level: 'WARNING',
    eventType: 'RATE_LIMITED',
    message: `rate limited by the story source${retryAfterMs !== undefined ? `; proxy rests ${Math.round(retryAfterMs / 1000)} s` : ''}; the request goes on through another proxy`,
    details: { retry_after_ms: retryAfterMs ?? null, profiles },
  });
}
