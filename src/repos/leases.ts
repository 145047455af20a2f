/**
 * The proxy pool's rows. A proxy is a rate, not a lock: a request reserves a send slot on a proxy (a row in
 * proxy_slots, counted in proxies.in_flight), waits for the slot's send time, sends, and hands the slot back
 * with the outcome. src/pool.ts decides when to take a slot and how long to wait; this module holds the SQL.
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
 * Outcomes on release (the slot row is deleted and in_flight lowered in the same statement):
 * - success: success_count + 1, failure streak reset; the learned rate recovers (see Learning below).
 * - rate_limited: the proxy rests until now + Retry-After (or PROXY_COOLDOWN_MS); PROXY_COOLDOWN logged; the
 *   learned rate backs off. Not counted as a failure: the proxy works, it is only asked to slow down.
 * - upstream_unreachable: the proxy answered the CONNECT with a 5xx: it works, the upstream is down. It rests
 *   (PROXY_COOLDOWN_MS, PROXY_COOLDOWN logged) without a failure counted, so an outage never disables a pool.
 * - proxy_failure: failure_count + 1, streak + 1; at PROXY_MAX_CONSECUTIVE_FAILURES the proxy is disabled
 *   (disabled_reason 'failures') and PROXY_DISABLED logged. The proxy-health schedule probes it and
 *   re-enables it once it answers; one an operator disabled stays disabled.
 * - session_invalid: the session is marked invalid and SESSION_INVALIDATED logged; the proxy is not blamed.
 * - neutral: the request failed for a reason that is not the proxy's (upstream 5xx, profile not found), or was
 *   never sent: the slot is freed and nothing is counted. Counting those would disable healthy proxies during
 *   an upstream outage; resetting the streak would hide a proxy that fails only sometimes.
 *
 * Learning (learned_rate_per_s, AIMD with a memory of where the limit was), only while PROXY_MIN_INTERVAL_MS is
 * unset (set, it is the proxy's interval, fixed):
 * - Nothing is learned until the first 429: the proxy sends as fast as its slots allow.
 * - A 429 on a proxy that is not already resting from one, and that has had a few successes since it last
 *   backed off, backs it off. The rate it was sending at (its learned rate; before anything is learned, its
 *   measured send rate) becomes the ceiling, and the learned rate drops to half of it the first time, 0.85
 *   after; never above 0.95 of the rate the source sustained since the last back-off, when that was within
 *   the last 30 s (its successes over that time). 429s of requests already in flight when the rest began
 *   teach nothing more, and neither do 429s a source gives at random whatever the rate (a storm): without
 *   successes in between, slowing down is not what helps.
 * - A success raises the learned rate by 2% up to 95% of the ceiling (a quick recovery to where it worked),
 *   and by 0.1% beyond it while the proxy actually sends at 80% of its rate or more (a slow probe, so a limit
 *   that rises is found and 429s stay rare; an idle proxy's rate does not creep up untested).
 * - Gaps between sends longer than 5 s are the proxy standing idle: they do not count as its send rate.

 * Secrets: a Lease carries the proxy password and session token for the request only. Nothing here puts them
 * in a batch log, and both are registered with `redact` as they are read.
 */
import { inTx, type Sql } from '../db.js';
import type { ProxyStatus, RestReason } from '../enums.js';
import { registerSecret } from '../redact.js';
import { insertLog, type Queryable } from './logs.js';

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
  | { kind: 'session_invalid'; message?: string }
  | { kind: 'neutral' };

/** How slots are handed out: the pool's settings. */
export interface SlotRules {
  /** Requests through one proxy at once (PROXY_MAX_IN_FLIGHT). */
  maxInFlight: number;
  /** The least interval between two sends through one proxy (PROXY_MIN_INTERVAL_MS; 0 = learned only). */
  minIntervalMs: number;
  /** Longest wait for a send time the taker accepts: a proxy whose schedule is further out is not a candidate. */
  maxWaitMs: number;
}

/** Learning constants (see the header). */
const LEARN = {
  firstBackoff: 0.5,
  backoff: 0.85,
  approach: 0.95,
  recover: 1.02,
  probe: 1.001,
  minRate: 0.05,
  maxRate: 10_000,
  /** Successes a proxy needs after backing off before a 429 backs it off again. */
  successesBetweenBackoffs: 10,
  /** Longest gap between two sends that counts in their moving average (longer: the proxy stood idle). */
  maxGapMs: 5_000,
  /** The rate the source sustained since the last back-off counts only over this window (seconds). */
  sustainedWindowS: 30,
  /** Probing above the ceiling only while the proxy actually sends at this share of its learned rate or more. */
  probeWhenBusy: 0.8,
  /** Weight of the newest gap in the moving average of send gaps. */
  gapWeight: 0.2,
} as const;

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
}

interface StatsRow {
  total: number;
  disabled: number;
  cooling_down: number;
  unreachable: number;
  leased: number;
  available: number;
  next_free_at: Date | null;
}

export interface ReleasedRow {
  id: string;
  url: string;
  status: ProxyStatus;
  old_status: ProxyStatus;
  consecutive_failures: number;
  rate_limited_until: Date | null;
  learned_rate_per_s: number | null;
  /** This release's 429 taught the proxy a lower rate. */
  backed_off: boolean;
}

const interval = (sql: Queryable, ms: number) => sql`(${ms}::float8 * interval '1 millisecond')`;

/** A proxy's (p) interval between sends, ms: PROXY_MIN_INTERVAL_MS when set, else what it learned (0: none yet). */
const sendIntervalMs = (sql: Queryable, minIntervalMs: number) =>
  minIntervalMs > 0 ? sql`${minIntervalMs}::float8` : sql`coalesce(1000.0 / p.learned_rate_per_s, 0)`;

/** Counts by state and the earliest moment any usable proxy may have a slot, all against the pool's clock. */
export async function readStats(sql: Queryable, now: Date, rules: Pick<SlotRules, 'maxInFlight' | 'maxWaitMs'>): Promise<StatsRow> {
  const horizon = sql`${now}::timestamptz + ${interval(sql, rules.maxWaitMs)}`;
  const [row] = await sql<StatsRow[]>`
    with p as (
      select *,
        status = 'disabled' as is_disabled,
        coalesce(rate_limited_until > ${now}::timestamptz, false) as is_cooling,
        coalesce(next_free_at > ${horizon}, false) as is_paced,
        in_flight >= ${rules.maxInFlight} as is_full,
        -- a full proxy has room again as soon as one of its requests ends: that moment is not known, so now
        greatest(coalesce(rate_limited_until, ${now}::timestamptz),
          coalesce(next_free_at - ${interval(sql, rules.maxWaitMs)}, ${now}::timestamptz)) as free_at
      from proxies
    )
    select
      count(*)::int as total,
      count(*) filter (where is_disabled)::int as disabled,
      count(*) filter (where not is_disabled and is_cooling)::int as cooling_down,
      count(*) filter (where not is_disabled and is_cooling and rest_reason = 'upstream_unreachable')::int as unreachable,
      count(*) filter (where not is_disabled and in_flight > 0)::int as leased,
      count(*) filter (where not is_disabled and not is_cooling and not is_paced and not is_full)::int as available,
      min(free_at) filter (where not is_disabled) as next_free_at
    from p`;
  if (!row) throw new Error('stats query returned no row');
  return row;
}

/** Frees the slots of holders that never released them (a crash): they count as in flight no more. */
export async function reclaimExpiredSlots(sql: Queryable, now: Date): Promise<number> {
  const rows = await sql<{ n: number }[]>`
    with expired as (
      delete from proxy_slots where expires_at <= ${now}::timestamptz returning proxy_id
    ), counts as (
      select proxy_id, count(*)::int as n from expired group by proxy_id
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
): Promise<LeaseResult & { freeNow?: boolean }> {
  const horizon = sql`${now}::timestamptz + ${interval(sql, rules.maxWaitMs)}`;
  const nextSend = sql`greatest(coalesce(p.next_free_at, ${now}::timestamptz), ${now}::timestamptz)`;
  // a gap longer than this is the proxy standing idle, not the rate it sends at
  const gapMs = sql`least(${LEARN.maxGapMs}::float8, extract(epoch from (${nextSend} - p.last_used_at)) * 1000)`;
  const intervalMs = sendIntervalMs(sql, rules.minIntervalMs);
  // One statement (one round trip, no explicit transaction): the slot, and a session for its proxy: one paired
  // with this proxy first, else an unpaired one, least recently used among them.
  const [proxy] = await sql<TakenRow[]>`
    with candidate as (
      select id from proxies
      where status <> 'disabled'
        and (rate_limited_until is null or rate_limited_until <= ${now}::timestamptz)
        and in_flight < ${rules.maxInFlight}
        and (next_free_at is null or next_free_at <= ${horizon})
      order by greatest(coalesce(next_free_at, ${now}::timestamptz), ${now}::timestamptz), in_flight,
        last_used_at asc nulls first, id
      limit 1
      for update skip locked
    ), taken as (
      -- p is the locked row's current version: the send time is computed from it, not from the snapshot
      update proxies p set
        in_flight = p.in_flight + 1,
        next_free_at = ${nextSend} + (${intervalMs} * interval '1 millisecond'),
        send_gap_ms = case when p.last_used_at is null then p.send_gap_ms
          else greatest(0, coalesce((1 - ${LEARN.gapWeight}::float8) * p.send_gap_ms + ${LEARN.gapWeight}::float8 * ${gapMs}, ${gapMs})) end,
        last_used_at = ${nextSend},
        -- the cooldown has passed (the candidate filter says so): it reads as active again
        status = case when p.status = 'cooling_down' then 'active' else p.status end,
        rest_reason = null
      from candidate
      where p.id = candidate.id
      returning p.id, p.url, p.username, p.password, p.last_used_at as send_at
    ), slot as (
      insert into proxy_slots (proxy_id, holder, expires_at)
      select id, ${holder}, send_at + ${interval(sql, leaseMs)} from taken
      returning id, expires_at
    ), pick as (
      select s.id from sessions s, taken
      where s.status = 'valid' and (s.proxy_id = taken.id or s.proxy_id is null)
      order by (s.proxy_id is null), s.last_used_at asc nulls first, s.id
      limit 1
      for update of s skip locked
    ), session as (
      update sessions s set last_used_at = now() from pick where s.id = pick.id returning s.id, s.token
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
      ...(allResting ? { restReason: s.unreachable === enabled ? 'upstream_unreachable' : 'rate_limited' } : {}),
      freeNow: s.available > 0,
    };
  }

  registerSecret(proxy.password);
  registerSecret(proxy.session_token);
  return {
    ok: true,
    lease: {
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
    },
  };
}

export interface ReleaseRowOptions {
  now: Date;
  batchId: string | null;
  profileId: string | null;
  /** How long a rate-limited or unreachable proxy rests. */
  cooldownMs: number;
  /** The failure to store on the proxy, already redacted and storable. */
  lastError: string | null;
  maxConsecutiveFailures: number;
  /** When the request actually left; the next send through the proxy stays an interval after it. */
  sentAt: Date | null;
  /** PROXY_MIN_INTERVAL_MS, the floor of the proxy's interval. */
  minIntervalMs: number;
}

/** Ends the slot with the outcome's effect on the proxy (and session), and its batch logs, in one transaction. */
export async function releaseLease(
  sql: Sql,
  l: Lease,
  outcome: ReleaseOutcome,
  options: ReleaseRowOptions,
): Promise<{ row: ReleasedRow | undefined; disabled: boolean; sessionInvalidated: boolean }> {
  const { now, cooldownMs, lastError, maxConsecutiveFailures, sentAt, minIntervalMs } = options;
  const logBase = { batchId: options.batchId, profileId: options.profileId, proxyId: l.proxyId };
  // an outcome that may write logs runs in a transaction with them; the common ones are one statement alone
  const mayLog = outcome.kind !== 'success' && outcome.kind !== 'neutral';
  const within = <T>(fn: (tx: Queryable) => Promise<T>): Promise<T> => (mayLog ? inTx(sql, fn) : fn(sql));
  return within(async (tx) => {
    const resting = tx`coalesce(p.rate_limited_until > ${now}::timestamptz, false)`;
    // whether this 429 teaches a lower rate (see Learning in the header)
    // (and a rate to learn from: a 429 to a proxy's very first send measured nothing); a fixed interval learns nothing
    const learns = tx`(${minIntervalMs === 0}::boolean and not ${resting}
      and (p.learned_rate_per_s is not null or p.send_gap_ms is not null)
      and (p.learned_rate_per_s is null or p.successes_since_backoff >= ${LEARN.successesBetweenBackoffs}::float8))`;
    // the rate this proxy was sending at: its learned rate (it only grows while the proxy sends near it), or
    // what it measurably sent before anything was learned
    const sendingAt = tx`coalesce(p.learned_rate_per_s, 1000.0 / nullif(p.send_gap_ms, 0), ${LEARN.maxRate}::float8)`;
    // the rate the source sustained since the last back-off (its successes over that time), when that was recent
    const sustained = tx`(case when p.backed_off_at > ${now}::timestamptz - ${LEARN.sustainedWindowS}::float8 * interval '1 second'
      then p.successes_since_backoff / greatest(0.001, extract(epoch from (${now}::timestamptz - p.backed_off_at))) end)`;
    const ceiling = tx`least(${sendingAt}, coalesce(${sustained}, ${LEARN.maxRate}::float8))`;
    const rest = (reason: RestReason) => tx`
      status = case when p.status = 'disabled' then 'disabled' else 'cooling_down' end,
      rate_limited_until = greatest(p.rate_limited_until, ${now}::timestamptz + ${interval(tx, cooldownMs)}),
      rest_reason = ${reason}`;
    const effect =
      outcome.kind === 'success'
        ? tx`, success_count = p.success_count + 1, consecutive_failures = 0,
             successes_since_backoff = least(p.successes_since_backoff + 1, 1000000),
             learned_rate_per_s = case
               when p.learned_rate_per_s is null then null
               when p.rate_ceiling_per_s is not null and p.learned_rate_per_s < ${LEARN.approach}::float8 * p.rate_ceiling_per_s
                 then least(${LEARN.approach}::float8 * p.rate_ceiling_per_s, p.learned_rate_per_s * ${LEARN.recover}::float8)
               -- a proxy that sends slower than it may has tested nothing above its rate: no creeping up while idle
               when p.send_gap_ms is not null and 1000.0 / greatest(p.send_gap_ms, 0.001) >= ${LEARN.probeWhenBusy}::float8 * p.learned_rate_per_s
                 then least(${LEARN.maxRate}::float8, p.learned_rate_per_s * ${LEARN.probe}::float8)
               else p.learned_rate_per_s end`
        : outcome.kind === 'rate_limited'
          ? tx`, ${rest('rate_limited')},
               rate_ceiling_per_s = case when ${learns} then ${ceiling} else p.rate_ceiling_per_s end,
               successes_since_backoff = case when ${learns} then 0 else p.successes_since_backoff end,
               backed_off_at = case when ${learns} then ${now}::timestamptz else p.backed_off_at end,
               learned_rate_per_s = case when not ${learns} then p.learned_rate_per_s
                 else greatest(${LEARN.minRate}::float8, least(
                   ${sendingAt} * case when p.learned_rate_per_s is null then ${LEARN.firstBackoff}::float8 else ${LEARN.backoff}::float8 end,
                   coalesce(${sustained}, ${LEARN.maxRate}::float8) * ${LEARN.approach}::float8)) end`
          : outcome.kind === 'upstream_unreachable'
            ? tx`, ${rest('upstream_unreachable')}, last_error = ${lastError}`
            : outcome.kind === 'proxy_failure'
              ? tx`, failure_count = p.failure_count + 1,
                   consecutive_failures = p.consecutive_failures + 1, last_error = ${lastError},
                   status = case when p.consecutive_failures + 1 >= ${maxConsecutiveFailures}
                            then 'disabled' else p.status end,
                   disabled_reason = case when p.status = 'disabled' then p.disabled_reason
                            when p.consecutive_failures + 1 >= ${maxConsecutiveFailures}
                            then 'failures' end`
              : tx``;

    // Only the slot's holder releases it, once: a slot that expired and was reclaimed is gone.
    const [row] = await tx<ReleasedRow[]>`
      with gone as (
        delete from proxy_slots where id = ${l.slotId} and holder = ${l.holder} returning proxy_id
      ), mine as (
        select id, status, ${learns} as learns
        from proxies p where id in (select proxy_id from gone)
        for update
      )
      update proxies p set in_flight = greatest(0, p.in_flight - 1),
        next_free_at = ${
          sentAt
            ? tx`greatest(p.next_free_at, ${sentAt}::timestamptz + (${sendIntervalMs(tx, minIntervalMs)} * interval '1 millisecond'))`
            : tx`p.next_free_at`
        }
        ${effect}
      from mine
      where p.id = mine.id
      returning p.id, p.url, p.status, mine.status as old_status, p.consecutive_failures, p.rate_limited_until,
        p.learned_rate_per_s, ${outcome.kind === 'rate_limited'}::boolean and mine.learns as backed_off`;


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
          ...(outcome.kind === 'rate_limited' ? { learned_rate_per_s: row.learned_rate_per_s } : {}),
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
