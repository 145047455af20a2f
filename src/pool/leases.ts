/**
 * The proxy pool's rows. A proxy is a rate, not a lock: a request reserves a send slot on a proxy (a row in
 * proxy_slots, counted in proxies.in_flight), waits for the slot's send time, sends, and hands the slot back
 * with the outcome. src/pool/pool.ts decides when to take a slot and how long to wait; this module holds the SQL.
 *
 * Taking a slot:
 * - Candidates are proxies not disabled, not resting (rate_limited_until), with fewer than PROXY_MAX_IN_FLIGHT
 *   requests in flight and a next send time within the wait the caller accepts. The one whose next send time
 *   comes first wins (then the emptiest, then the least recently used), so requests spread over the pool and
 *   each proxy's schedule stays full.
 * - The slot's send time is the proxy's next_free_at (or now); next_free_at then advances by the proxy's send
 *   interval: the larger of PROXY_MIN_INTERVAL_MS and 1 / learned_rate_per_s. Send times through one proxy are
 *   therefore spaced by its rate whoever sends, in every worker process.
 * - `FOR UPDATE SKIP LOCKED` lets concurrent takers pick different proxies without waiting on each other, and
 *   the locked row's own in_flight decides exactly whether it has room.
 *
 * Outcomes on release (the slot row is deleted and in_flight lowered in the same transaction):
 * - success: success_count + 1, failure streak and blocked strikes reset; the session's refusal forgotten.
 * - rate_limited: the proxy rests as its pacing says (src/pool/pacing.ts: the Retry-After given, or a rest it
 *   chooses, longer each time a rest proved too short); PROXY_COOLDOWN logged. Not counted as a failure: the
 *   proxy works, it is only asked to slow down.
 * - upstream_unreachable: the proxy answered the CONNECT with a 5xx: it works, the upstream is down. It rests
 *   (PROXY_COOLDOWN_MS, PROXY_COOLDOWN logged) without a failure counted, so an outage never disables a pool.
 * - address_blocked: the source refused the proxy's address (403). The first time it rests (PROXY_COOLDOWN_MS,
 *   rest_reason 'blocked'); refused again before any other answer, it is disabled (disabled_reason 'blocked',
 *   PROXY_DISABLED logged) until the proxy-health schedule sees the source answer it otherwise.
 * - proxy_failure: failure_count + 1, streak + 1; at PROXY_MAX_CONSECUTIVE_FAILURES the proxy is disabled
 *   (disabled_reason 'failures') and PROXY_DISABLED logged. The proxy-health schedule probes it and
 *   re-enables it once it answers; one an operator disabled stays disabled.
 * - session_invalid: the session was refused. A checkpoint (or a token that cannot be sent) invalidates it at
 *   once; a login refusal only when it is the second for a different request (refused_subject), so one odd
 *   profile cannot cycle every session through invalid. SESSION_INVALIDATED logged; the proxy is not blamed.
 * - neutral: the request failed for a reason that is not the proxy's (upstream 5xx, profile not found), or was
 *   never sent: the slot is freed and nothing is counted. Counting those would disable healthy proxies during
 *   an upstream outage; resetting the streak would hide a proxy that fails only sometimes.
 *
 * Pacing: every answer of a request that was sent is shown to the proxy's pacing (src/pool/pacing.ts, a pure
 * module), whose state is kept in proxies.pacing and whose interval (proxies.pace_interval_ms, never below
 * PROXY_MIN_INTERVAL_MS) spaces the proxy's send times. The release locks the proxy row, so every worker's
 * answers reach one state in turn.
 *
 * Sessions: a request takes a valid session with room (fewer than SESSION_MAX_IN_FLIGHT requests in flight),
 * one paired with its proxy first, else an unpaired one, the emptiest and least recently used. While a valid
 * session exists, no request leaves without one: a proxy is not a candidate while every session it could use is
 * full. The session row is locked (waited for, never skipped), so concurrent takers never see it as missing.
 *
 * Secrets: a Lease carries the proxy password and session token for the request only. Nothing here puts them
 * in a batch log, and both are registered with `redact` as they are read.
 */
import { transaction, type Sql } from '../db/sql.js';
import type { ProxyStatus, RestReason } from '../enums.js';
import { learnedRatePerS, newPacingState, observe, sendIntervalMs, type PacingEvent, type PacingSettings, type PacingState } from './pacing.js';
import { registerSecret } from '../logging/redact.js';
import type { SessionRefusal } from '../upstream/errors.js';
import { insertLog, type Queryable } from '../repos/logs.js';

export interface Lease {
  proxyId: string;
  /** The reserved slot (a proxy_slots row): released exactly once, by its holder. */
  slotId: string;
  /** `scheme://host:port`, without credentials. */
  proxyUrl: string;
  proxyUsername: string | null;
  proxyPassword: string | null;
  sessionId: string | null;
  sessionToken: string | null;
  holder: string;
  /** When the request may leave: the proxy's schedule gave it this send time (now, or shortly after). */
  sendAt: Date;
  expiresAt: Date;
}

export type LeaseFailureReason = 'none_usable' | 'all_busy' | 'all_cooling_down';

export type LeaseResult =
  | { ok: true; lease: Lease }
  | {
      ok: false;
      /** When a proxy may next have a slot (rest over, schedule within reach); null when no proxy is usable at all. */
      retryAt: Date | null;
      /** none_usable: all disabled or none exist; all_busy: some proxy is merely full or paced; all_cooling_down: every one is resting. */
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
  /** The source refused the proxy's address (403): it rests, and is disabled when refused again. */
  | { kind: 'address_blocked'; message: string }
  | { kind: 'session_invalid'; message?: string; refusal?: SessionRefusal }
  | { kind: 'neutral' };

/** How slots are handed out: the pool's settings. */
export interface SlotRules {
  /** Requests through one proxy at once (PROXY_MAX_IN_FLIGHT). */
  maxInFlight: number;
  /** The least interval between two sends through one proxy (PROXY_MIN_INTERVAL_MS; 0 = learned only). */
  minIntervalMs: number;
  /** Longest wait for a send time the taker accepts: a proxy whose schedule is further out is not a candidate. */
  maxWaitMs: number;
  /** Requests carried by one session at once (SESSION_MAX_IN_FLIGHT). */
  sessionMaxInFlight: number;
}

/** Blocked answers in a row (no other answer between) at which a proxy is disabled rather than rested again. */
const BLOCKED_STRIKES_TO_DISABLE = 2;

interface TakenRow {
  id: string;
  url: string;
  username: string | null;
  password: string | null;
  send_at: Date;
  slot_id: string;
  expires_at: Date;
  session_id: string | null;
  session_token: string | null;
  /** A valid session existed that this proxy could use: a lease without one lost a race for it. */
  session_wanted: boolean;
}

interface StatsRow {
  total: number;
  disabled: number;
  cooling_down: number;
  unreachable: number;
  leased: number;
  available: number;
  next_free_at: Date | null;
  valid_sessions: number;
  /** Requests the usable proxies can carry at once at their pace: a proxy paced slower than its send-time horizon carries one or two, not PROXY_MAX_IN_FLIGHT. */
  paced_slots: number;
}

export interface ReleasedRow {
  id: string;
  url: string;
  status: ProxyStatus;
  old_status: ProxyStatus;
  consecutive_failures: number;
  rate_limited_until: Date | null;
  learned_rate_per_s: number | null;
  /** Why pacing changed with this answer, when it did. */
  pacing_note: string | null;
}

const interval = (sql: Queryable, ms: number) => sql`(${ms}::float8 * interval '1 millisecond')`;

/** A proxy's (p) interval between sends, ms: what its pacing says, never below PROXY_MIN_INTERVAL_MS. */
const sendIntervalSql = (sql: Queryable, minIntervalMs: number) => sql`greatest(${minIntervalMs}::float8, p.pace_interval_ms)`;

/**
 * Whether a valid session exists that proxy `p` may use (paired with it, or with none), and whether one of them
 * has room for one more request.
 */
const usableSession = (sql: Queryable, rules: Pick<SlotRules, 'sessionMaxInFlight'>, withRoom: boolean) => sql`exists (
  select 1 from sessions s where s.status = 'valid' and (s.proxy_id = p.id or s.proxy_id is null)
  ${withRoom ? sql`and s.in_flight < ${rules.sessionMaxInFlight}` : sql``})`;

/** Counts by state and the earliest moment any usable proxy may have a slot, all against the pool's clock. */
export async function readStats(
  sql: Queryable,
  now: Date,
  rules: Pick<SlotRules, 'maxInFlight' | 'maxWaitMs' | 'sessionMaxInFlight' | 'minIntervalMs'>,
): Promise<StatsRow> {
  const horizon = sql`${now}::timestamptz + ${interval(sql, rules.maxWaitMs)}`;
  const [row] = await sql<StatsRow[]>`
    with p as (
      select *,
        greatest(${rules.minIntervalMs}::float8, pace_interval_ms) as pace_ms,
        status = 'disabled' as is_disabled,
        coalesce(rate_limited_until > ${now}::timestamptz, false) as is_cooling,
        coalesce(next_free_at > ${horizon}, false) as is_paced,
        -- every session it could carry is full: as full as a proxy at its in-flight cap
        in_flight >= ${rules.maxInFlight} or (${usableSession(sql, rules, false)} and not ${usableSession(sql, rules, true)}) as is_full,
        -- a full proxy has room again as soon as one of its requests ends: that moment is not known, so now
        greatest(coalesce(rate_limited_until, ${now}::timestamptz),
          coalesce(next_free_at - ${interval(sql, rules.maxWaitMs)}, ${now}::timestamptz)) as free_at
      from proxies p
    )
    select
      count(*)::int as total,
      count(*) filter (where is_disabled)::int as disabled,
      count(*) filter (where not is_disabled and is_cooling)::int as cooling_down,
      count(*) filter (where not is_disabled and is_cooling and rest_reason = 'upstream_unreachable')::int as unreachable,
      count(*) filter (where not is_disabled and in_flight > 0)::int as leased,
      count(*) filter (where not is_disabled and not is_cooling and not is_paced and not is_full)::int as available,
      min(free_at) filter (where not is_disabled) as next_free_at,
      (select count(*)::int from sessions where status = 'valid') as valid_sessions,
      -- slots taken at most maxWaitMs ahead of their send time: a proxy sending every interval holds that many
      coalesce(sum(least(${rules.maxInFlight}, case when pace_ms <= 0 then ${rules.maxInFlight}
        else 1 + floor(${rules.maxWaitMs}::float8 / pace_ms) end)) filter (where not is_disabled and not is_cooling), 0)::int as paced_slots
    from p`;
  if (!row) throw new Error('stats query returned no row');
  return row;
}

/** Frees the slots of holders that never released them (a crash): they count as in flight no more, on proxies and sessions. */
export async function reclaimExpiredSlots(sql: Queryable, now: Date): Promise<number> {
  const rows = await sql<{ n: number }[]>`
    with expired as (
      delete from proxy_slots where expires_at <= ${now}::timestamptz returning proxy_id, session_id
    ), counts as (
      select proxy_id, count(*)::int as n from expired group by proxy_id
    ), session_counts as (
      select session_id, count(*)::int as n from expired where session_id is not null group by session_id
    ), sessions_freed as (
      update sessions s set in_flight = greatest(0, s.in_flight - session_counts.n)
      from session_counts where s.id = session_counts.session_id
      returning s.id
    ), freed as (
      update proxies p set in_flight = greatest(0, p.in_flight - counts.n)
      from counts where p.id = counts.proxy_id
      returning counts.n
    )
    select coalesce(sum(n), 0)::int as n from freed`;
  return rows[0]?.n ?? 0;
}

/** One attempt to reserve a send slot on the proxy whose schedule frees first, and a session for it, at `now`. */
export async function takeLease(
  sql: Sql,
  holder: string,
  leaseMs: number,
  now: Date,
  rules: SlotRules,
  /** False: a slot without a session (a probe that brings its own). */
  withSession = true,
): Promise<LeaseResult & { freeNow?: boolean }> {
  const horizon = sql`${now}::timestamptz + ${interval(sql, rules.maxWaitMs)}`;
  const nextSend = sql`greatest(coalesce(p.next_free_at, ${now}::timestamptz), ${now}::timestamptz)`;
  // One statement (one round trip, no explicit transaction): the slot, and a session for its proxy.
  const [proxy] = await sql<TakenRow[]>`
    with candidate as (
      select id from proxies p
      where status <> 'disabled'
        and (rate_limited_until is null or rate_limited_until <= ${now}::timestamptz)
        and in_flight < ${rules.maxInFlight}
        and (next_free_at is null or next_free_at <= ${horizon})
        ${withSession ? sql`and (not ${usableSession(sql, rules, false)} or ${usableSession(sql, rules, true)})` : sql``}
      order by greatest(coalesce(next_free_at, ${now}::timestamptz), ${now}::timestamptz), in_flight,
        last_used_at asc nulls first, id
      limit 1
      for update skip locked
    ), taken as (
      -- p is the locked row's current version: the send time is computed from it, not from the snapshot
      update proxies p set
        in_flight = p.in_flight + 1,
        next_free_at = ${nextSend} + (${sendIntervalSql(sql, rules.minIntervalMs)} * interval '1 millisecond'),
        last_used_at = ${nextSend},
        -- the rest has passed (the candidate filter says so): it reads as active again
        status = case when p.status = 'cooling_down' then 'active' else p.status end,
        rest_reason = null
      from candidate
      where p.id = candidate.id
      returning p.id, p.url, p.username, p.password, p.last_used_at as send_at,
        ${withSession ? usableSession(sql, rules, false) : sql`false`} as session_wanted
    ), pick as (
      -- locked and waited for, never skipped: a session another taker holds for a moment is still there.
      -- Its room is checked again on the row as it is once the lock is ours.
      select s.id from sessions s, taken
      where ${withSession}::boolean and s.status = 'valid' and (s.proxy_id = taken.id or s.proxy_id is null)
        and s.in_flight < ${rules.sessionMaxInFlight}
      order by (s.proxy_id is null), s.in_flight, s.last_used_at asc nulls first, s.id
      limit 1
      for update of s
    ), session as (
      update sessions s set last_used_at = now(), in_flight = s.in_flight + 1 from pick where s.id = pick.id returning s.id, s.token
    ), slot as (
      insert into proxy_slots (proxy_id, holder, expires_at, session_id)
      select id, ${holder}, send_at + ${interval(sql, leaseMs)}, (select id from session) from taken
      returning id, expires_at
    )
    select taken.*, slot.id::text as slot_id, slot.expires_at, session.id as session_id, session.token as session_token
    from taken cross join slot left join session on true`;

  if (!proxy) {
    const s = await readStats(sql, now, rules);
    const enabled = s.total - s.disabled;
    if (enabled === 0) return { ok: false, retryAt: null, reason: 'none_usable' };
    const allResting = s.cooling_down === enabled;
    return {
      ok: false,
      retryAt: s.next_free_at,
      reason: allResting ? 'all_cooling_down' : 'all_busy',
      ...(allResting ? { restReason: restReasonOf(s, enabled) } : {}),
      freeNow: s.available > 0,
    };
  }

  registerSecret(proxy.password);
  registerSecret(proxy.session_token);
  const lease: Lease = {
    proxyId: proxy.id,
    slotId: proxy.slot_id,
    proxyUrl: proxy.url,
    proxyUsername: proxy.username,
    proxyPassword: proxy.password,
    sessionId: proxy.session_id,
    sessionToken: proxy.session_token,
    holder,
    sendAt: proxy.send_at,
    expiresAt: proxy.expires_at,
  };
  if (proxy.session_wanted && !proxy.session_id) {
    // the session it could carry filled up between the candidate check and the pick: never send without one
    // while one exists. The slot goes back unsent; the caller tries again at once.
    await releaseLease(sql, lease, { kind: 'neutral' }, unsentRelease(now, rules));
    return { ok: false, retryAt: now, reason: 'all_busy', freeNow: true };
  }
  return { ok: true, lease };
}

const restReasonOf = (s: StatsRow, resting: number): RestReason => (s.unreachable === resting ? 'upstream_unreachable' : 'rate_limited');

const unsentRelease = (now: Date, rules: SlotRules): ReleaseRowOptions => ({
  now,
  batchId: null,
  profileId: null,
  cooldownMs: 0,
  lastError: null,
  maxConsecutiveFailures: Number.MAX_SAFE_INTEGER,
  sentAt: null,
  pacing: { minIntervalMs: rules.minIntervalMs, cooldownMs: 0, maxRestMs: 0, maxInFlight: rules.maxInFlight },
});

export interface ReleaseRowOptions {
  now: Date;
  batchId: string | null;
  profileId: string | null;
  /** How long a proxy rests when it cannot reach the upstream or its address was refused (PROXY_COOLDOWN_MS or the outcome's). */
  cooldownMs: number;
  /** The failure to store on the proxy, already redacted and storable. */
  lastError: string | null;
  maxConsecutiveFailures: number;
  /** When the request actually left (null: it never did); the next send through the proxy stays an interval after it. */
  sentAt: Date | null;
  pacing: PacingSettings;
  /** What the request asked about (a username, or the ids of a stories request): a session refused for two different ones is invalid. */
  subject?: string;
}

interface LockedProxy {
  id: string;
  url: string;
  status: ProxyStatus;
  disabled_reason: string | null;
  consecutive_failures: number;
  blocked_strikes: number;
  rate_limited_until: Date | null;
  pacing: PacingState | null;
}

/** The pacing event of an answered request: success, a 429, or any other answer (null: never sent, nothing to learn). */
function pacingEventOf(outcome: ReleaseOutcome, sentAt: Date | null): PacingEvent | null {
  if (!sentAt) return null;
  const sentAtMs = sentAt.getTime();
  if (outcome.kind === 'success') return { kind: 'success', sentAtMs };
  if (outcome.kind === 'rate_limited') return { kind: 'rate_limited', sentAtMs, ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}) };
  // a proxy fault or an unreachable upstream never reached the source: the source's pace saw nothing
  if (outcome.kind === 'proxy_failure' || outcome.kind === 'upstream_unreachable') return null;
  return { kind: 'other', sentAtMs };
}

/** What an outcome does to the proxy row, computed from the locked row: the columns to set. */
function proxyEffect(row: LockedProxy, l: Lease, outcome: ReleaseOutcome, options: ReleaseRowOptions) {
  const { now, cooldownMs, lastError, maxConsecutiveFailures, sentAt } = options;
  const nowMs = now.getTime();
  // an answer without its send time (a caller that did not say) left at the slot's send time; a neutral one may never have left
  const event = pacingEventOf(outcome, sentAt ?? (outcome.kind === 'neutral' ? null : l.sendAt));
  const decision = event ? observe(row.pacing ?? newPacingState(), event, nowMs, options.pacing) : null;
  let status = row.status;
  let disabledReason = row.disabled_reason;
  let restUntil = row.rate_limited_until;
  let restReason: RestReason | null = null;
  let consecutiveFailures = row.consecutive_failures;
  let blockedStrikes = row.blocked_strikes;
  let failed = false;
  const rest = (untilMs: number, reason: RestReason) => {
    if (restUntil && restUntil.getTime() >= untilMs) return;
    restUntil = new Date(untilMs);
    restReason = reason;
    if (status !== 'disabled') status = 'cooling_down';
  };
  const disable = (reason: 'failures' | 'blocked') => {
    if (status === 'disabled') return;
    status = 'disabled';
    disabledReason = reason;
  };
  if (decision?.restUntilMs) rest(decision.restUntilMs, 'rate_limited');
  switch (outcome.kind) {
    case 'success':
      consecutiveFailures = 0;
      blockedStrikes = 0;
      break;
    case 'upstream_unreachable':
      rest(nowMs + cooldownMs, 'upstream_unreachable');
      break;
    case 'address_blocked':
      blockedStrikes++;
      if (blockedStrikes >= BLOCKED_STRIKES_TO_DISABLE) disable('blocked');
      else rest(nowMs + cooldownMs, 'blocked');
      break;
    case 'proxy_failure':
      failed = true;
      consecutiveFailures++;
      if (consecutiveFailures >= maxConsecutiveFailures) disable('failures');
      break;
    default:
      // a 429, a refused session, any other answer: the address was answered, so it is not blocked
      if (outcome.kind !== 'neutral') blockedStrikes = 0;
  }
  const pacing = decision?.state ?? row.pacing;
  return {
    status,
    disabledReason,
    restUntil,
    restReason,
    consecutiveFailures,
    blockedStrikes,
    failed,
    lastError,
    pacing,
    intervalMs: pacing ? sendIntervalMs(pacing, options.pacing) : 0,
    learnedRate: pacing ? learnedRatePerS(pacing) : null,
    note: decision?.note ?? null,
  };
}

/** Ends the slot with the outcome's effect on the proxy (and session), and its batch logs, in one transaction. */
export async function releaseLease(
  sql: Sql,
  l: Lease,
  outcome: ReleaseOutcome,
  options: ReleaseRowOptions,
): Promise<{ row: ReleasedRow | undefined; disabled: boolean; sessionInvalidated: boolean }> {
  const { now, sentAt, maxConsecutiveFailures } = options;
  const logBase = { batchId: options.batchId, profileId: options.profileId, proxyId: l.proxyId };
  // a deadlock with a concurrent reclaim or take is retried from the start (the slot row is locked first, as reclaim does)
  return transaction(sql, async (tx) => {
    // Only the slot's holder releases it, once: a slot that expired and was reclaimed is gone.
    // the slot row first (as reclaim takes them), then its proxy's, locked for the pacing computed from it
    const [locked] = await tx<(LockedProxy & { slot_session_id: string | null })[]>`
      with gone as (
        delete from proxy_slots where id = ${l.slotId} and holder = ${l.holder} returning proxy_id, session_id
      )
      select p.id, p.url, p.status, p.disabled_reason, p.consecutive_failures, p.blocked_strikes, p.rate_limited_until,
        p.pacing, gone.session_id as slot_session_id
      from proxies p join gone on p.id = gone.proxy_id
      for update of p`;
    if (!locked) return { row: undefined, disabled: false, sessionInvalidated: false };
    const e = proxyEffect(locked, l, outcome, options);
    const [updated] = await tx<Omit<ReleasedRow, 'old_status' | 'pacing_note'>[]>`
      update proxies p set
        in_flight = greatest(0, p.in_flight - 1),
        next_free_at = ${sentAt ? tx`greatest(p.next_free_at, ${sentAt}::timestamptz + ${interval(tx, e.intervalMs)})` : tx`p.next_free_at`},
        status = ${e.status},
        disabled_reason = ${e.status === 'disabled' ? e.disabledReason : null},
        rate_limited_until = ${e.restUntil},
        rest_reason = ${e.restReason ?? tx`p.rest_reason`},
        consecutive_failures = ${e.consecutiveFailures},
        blocked_strikes = ${e.blockedStrikes},
        pacing = ${e.pacing ? tx.json(e.pacing as never) : null},
        pace_interval_ms = ${e.intervalMs},
        learned_rate_per_s = ${e.learnedRate},
        ${outcome.kind === 'success' ? tx`success_count = p.success_count + 1,` : tx``}
        ${e.failed ? tx`failure_count = p.failure_count + 1,` : tx``}
        last_error = ${e.lastError ?? tx`p.last_error`}
      where p.id = ${locked.id}
      returning p.id, p.url, p.status, p.consecutive_failures, p.rate_limited_until, p.learned_rate_per_s`;
    if (!updated) return { row: undefined, disabled: false, sessionInvalidated: false };
    const row: ReleasedRow = { ...updated, old_status: locked.status, pacing_note: e.note };

    const rested = row.rate_limited_until && (!locked.rate_limited_until || row.rate_limited_until > locked.rate_limited_until);
    if (rested && (outcome.kind === 'rate_limited' || outcome.kind === 'upstream_unreachable' || outcome.kind === 'address_blocked')) {
      const restMs = row.rate_limited_until!.getTime() - now.getTime();
      const why = { rate_limited: 'was rate limited', upstream_unreachable: 'cannot reach the upstream', address_blocked: 'was refused by the source (403)' }[outcome.kind];
      await insertLog(tx, {
        ...logBase,
        level: 'WARNING',
        eventType: 'PROXY_COOLDOWN',
        message: `proxy ${row.url} ${why} and rests for ${Math.round(restMs / 1000)} s`,
        details: {
          reason: outcome.kind,
          retry_after_ms: restMs,
          until: row.rate_limited_until!.toISOString(),
          from_retry_after: outcome.kind === 'rate_limited' && outcome.retryAfterMs !== undefined,
          ...(outcome.kind === 'rate_limited' ? { learned_rate_per_s: row.learned_rate_per_s, pacing: e.note } : {}),
        },
      });
    }
    let disabled = false;
    if (row.status === 'disabled' && locked.status !== 'disabled' && (outcome.kind === 'proxy_failure' || outcome.kind === 'address_blocked')) {
      disabled = true;
      await insertLog(tx, {
        ...logBase,
        level: 'ERROR',
        eventType: 'PROXY_DISABLED',
        message:
          outcome.kind === 'proxy_failure'
            ? `proxy ${row.url} disabled after ${row.consecutive_failures} consecutive failures`
            : `proxy ${row.url} disabled: the source refuses its address (403 again after a rest)`,
        details:
          outcome.kind === 'proxy_failure'
            ? { consecutive_failures: row.consecutive_failures, max_consecutive_failures: maxConsecutiveFailures, error: outcome.message }
            : { reason: 'blocked', error: outcome.message },
      });
    }
    const sessionInvalidated = await settleSession(tx, locked.slot_session_id ?? l.sessionId, outcome, options, logBase);
    return { row, disabled, sessionInvalidated };
  });
}

/**
 * The session's side of a release: its request is no longer in flight; a success forgets an earlier refusal;
 * a refusal invalidates it on evidence only (see the header). Returns whether it was invalidated now.
 */
async function settleSession(
  tx: Queryable,
  sessionId: string | null,
  outcome: ReleaseOutcome,
  options: ReleaseRowOptions,
  logBase: { batchId: string | null; profileId: string | null; proxyId: string },
): Promise<boolean> {
  if (!sessionId) return false;
  const refused = outcome.kind === 'session_invalid';
  const subject = options.subject ?? null;
  // a checkpoint or an unsendable token is proof enough; a login refusal is, once it repeats for another request
  const conclusive = refused && (outcome.refusal === 'checkpoint' || outcome.refusal === 'unsendable');
  const [session] = await tx<{ id: string; invalidated: boolean; first: string | null }[]>`
    with before as (select id, status, refused_subject from sessions where id = ${sessionId} for update)
    update sessions s set
      in_flight = greatest(0, s.in_flight - 1),
      ${
        refused
          ? tx`status = case when s.status = 'valid' and (${conclusive}::boolean
                 or (before.refused_subject is not null and before.refused_subject is distinct from ${subject}::text))
               then 'invalid' else s.status end,
             refused_subject = coalesce(before.refused_subject, ${subject ?? 'unknown'}::text),
             refused_at = ${options.now}::timestamptz`
          : outcome.kind === 'success'
            ? tx`refused_subject = null, refused_at = null`
            : tx`status = s.status`
      }
    from before where s.id = before.id
    returning s.id, (before.status = 'valid' and s.status = 'invalid') as invalidated, before.refused_subject as first`;
  if (!session?.invalidated || outcome.kind !== 'session_invalid') return false;
  await insertLog(tx, {
    ...logBase,
    level: 'WARNING',
    eventType: 'SESSION_INVALIDATED',
    message: `session ${session.id} was refused upstream and is no longer used`,
    details: {
      session_id: session.id,
      reason: outcome.message ?? 'session refused upstream',
      refusal: outcome.refusal ?? 'login',
      ...(session.first ? { evidence: 'refused for two different requests' } : {}),
    },
  });
  return true;
}
