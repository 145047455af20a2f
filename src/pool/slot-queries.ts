/**
 * The SQL the pool's slots share (see src/pool/lease-types.ts): a proxy's send interval, whether a session may carry
 * its request, the pool's counts, and the reclaim of the slots of holders that crashed.
 */
import type { Queryable } from '../repos/logs.js';
import type { SlotRules } from './lease-types.js';

export interface StatsRow {
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

export const interval = (sql: Queryable, ms: number) => sql`(${ms}::float8 * interval '1 millisecond')`;

/** A proxy's (p) interval between sends, ms: what its pacing says, never below PROXY_MIN_INTERVAL_MS. */
export const sendIntervalSql = (sql: Queryable, minIntervalMs: number) => sql`greatest(${minIntervalMs}::float8, p.pace_interval_ms)`;

/**
 * Whether a valid session exists that proxy `p` may use (paired with it, or with none), and whether one of them
 * has room for one more request.
 */
export const usableSession = (sql: Queryable, rules: Pick<SlotRules, 'sessionMaxInFlight'>, withRoom: boolean) => sql`exists (
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
