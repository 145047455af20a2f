/**
 * Taking a send slot on a proxy, and a session for it (see src/pool/lease-types.ts, "Taking a slot" and "Sessions").
 */
import type { Sql } from '../db/sql.js';
import type { RestReason } from '../enums.js';
import { registerSecret } from '../logging/redact.js';
import type { Lease, LeaseResult, ReleaseRowOptions, SlotRules } from './lease-types.js';
import { releaseLease } from './release-lease.js';
import { interval, readStats, sendIntervalSql, usableSession, type StatsRow } from './slot-queries.js';

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
  const proxy = await reserveSlot(sql, holder, leaseMs, now, rules, withSession);
  if (!proxy) return whyNoSlot(sql, now, rules);

  registerSecret(proxy.password);
  registerSecret(proxy.session_token);
  const lease = leaseOf(proxy, holder);
  if (proxy.session_wanted && !proxy.session_id) {
    // the session it could carry filled up between the candidate check and the pick: never send without one
    // while one exists. The slot goes back unsent; the caller tries again at once.
    await releaseLease(sql, lease, { kind: 'neutral' }, unsentRelease(now, rules));
    return { ok: false, retryAt: now, reason: 'all_busy', freeNow: true };
  }
  return { ok: true, lease };
}

/** The slot on the proxy whose schedule frees first and a session for it, or undefined when no proxy has room. */
async function reserveSlot(
  sql: Sql,
  holder: string,
  leaseMs: number,
  now: Date,
  rules: SlotRules,
  withSession: boolean,
): Promise<TakenRow | undefined> {
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
  return proxy;
}

/** Why no proxy had a slot, and when one may: none usable, all resting, or all merely busy. */
async function whyNoSlot(sql: Sql, now: Date, rules: SlotRules): Promise<LeaseResult & { freeNow?: boolean }> {
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

function leaseOf(proxy: TakenRow, holder: string): Lease {
  return {
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
