/**
 * Why a running batch cannot send, kept on the batch (docs/api.md: `stalled_reason`, `stalled_since`).
 *
 * Whatever finds that nothing can be sent (no proxy to lease, every proxy unable to reach the upstream, no
 * valid session, the queue held) calls `noteBlocked`; the first call starts the clock (`blocked_since`).
 * A call once BATCH_STALL_AFTER_MS have passed without progress turns it into a stall: `stalled_reason` is
 * set and one BATCH_STALLED warning is written for the episode, saying what the operator can do. Any
 * recorded result calls `clearBlocked`: the fields return to null, with a BATCH_STALL_CLEARED log when the
 * batch was stalled. Nothing here makes the batch go on: it goes on by itself once the cause is gone.
 *
 * Lock order: the batch row, then the log insert.
 */
import { transaction, type Sql } from '../db/sql.js';
import type { StallReason } from '../enums.js';
import { insertLog } from './logs.js';

/** What the operator can do about each reason (the BATCH_STALLED log says it). */
export const STALL_ADVICE: Record<StallReason, string> = {
  no_usable_proxy:
    'every proxy is disabled or resting: add proxies (POST /proxies) or re-enable one (PATCH /proxies/:id {"status":"active"}); rate-limited proxies come back when their rest ends',
  upstream_unreachable:
    'the proxies cannot reach the story source: the batch goes on by itself once it is back (the proxy-health schedule probes the proxies)',
  no_valid_session:
    'the story source asks for a login and no session is valid: add one (POST /sessions) or re-validate one (POST /sessions/:id/validate)',
  queue_held: 'the queue is paused: POST /queue/resume lets the batch go on',
};

const DESCRIPTION: Record<StallReason, string> = {
  no_usable_proxy: 'no usable proxy',
  upstream_unreachable: 'the story source is unreachable through every proxy',
  no_valid_session: 'no valid session',
  queue_held: 'the queue is paused',
};

export interface BlockedState {
  /** Since when nothing could be sent (null when the batch is not running). */
  blockedSince: Date | null;
  stalled: boolean;
}

/**
 * Notes that nothing can be sent for `reason`; promotes it to a stall once it has lasted `stallAfterMs`.
 * Returns the state, so a caller that waits knows when to look again (the moment the stall would begin).
 */
export async function noteBlocked(sql: Sql, batchId: string, reason: StallReason, now: Date, stallAfterMs: number): Promise<BlockedState> {
  return transaction(sql, async (tx) => {
    const [row] = await tx<{ stalled_reason: StallReason | null; was: StallReason | null; blocked_since: Date }[]>`
      with prev as (
        select id, stalled_reason from batches where id = ${batchId} and status = 'running' for update
      )
      update batches b set
        blocked_reason = ${reason},
        blocked_since = coalesce(b.blocked_since, ${now}::timestamptz),
        stalled_reason = case
          when b.stalled_reason is not null
            or coalesce(b.blocked_since, ${now}::timestamptz) <= ${now}::timestamptz - ${stallAfterMs}::float8 * interval '1 millisecond'
          then ${reason} end,
        stalled_since = case
          when b.stalled_reason is not null then b.stalled_since
          when coalesce(b.blocked_since, ${now}::timestamptz) <= ${now}::timestamptz - ${stallAfterMs}::float8 * interval '1 millisecond'
          then coalesce(b.blocked_since, ${now}::timestamptz) end
      from prev
      where b.id = prev.id
      returning b.stalled_reason, prev.stalled_reason as was, b.blocked_since`;
    if (!row) return { blockedSince: null, stalled: false };
    const state = { blockedSince: row.blocked_since, stalled: row.stalled_reason !== null };
    if (!row.stalled_reason || row.was) return state;
    const seconds = Math.round((now.getTime() - row.blocked_since.getTime()) / 1000);
    await insertLog(tx, {
      batchId,
      level: 'WARNING',
      eventType: 'BATCH_STALLED',
      message: `batch stalled: ${DESCRIPTION[reason]} (no progress for ${seconds} s); ${STALL_ADVICE[reason]}`,
      details: { reason, since: row.blocked_since.toISOString(), what_to_do: STALL_ADVICE[reason] },
    });
    return state;
  });
}

/** Work flows again (or, with `onlyReason`, that cause is gone): the batch is no longer blocked or stalled. */
export async function clearBlocked(sql: Sql, batchId: string, now: Date, onlyReason?: StallReason): Promise<void> {
  // the common case, a batch that is not blocked, costs one read and no lock
  const [current] = await sql<{ blocked_reason: string | null }[]>`select blocked_reason from batches where id = ${batchId}`;
  if (!current?.blocked_reason || (onlyReason && current.blocked_reason !== onlyReason)) return;
  await transaction(sql, async (tx) => {
    const [row] = await tx<{ was: StallReason | null; since: Date | null }[]>`
      with prev as (
        select id, stalled_reason, stalled_since from batches
        where id = ${batchId} and blocked_reason is not null
          ${onlyReason ? tx`and blocked_reason = ${onlyReason}` : tx``}
        for update
      )
      update batches b set blocked_reason = null, blocked_since = null, stalled_reason = null, stalled_since = null
      from prev
      where b.id = prev.id
      returning prev.stalled_reason as was, prev.stalled_since as since`;
    if (!row?.was) return;
    const seconds = row.since ? Math.max(0, Math.round((now.getTime() - row.since.getTime()) / 1000)) : null;
    await insertLog(tx, {
      batchId,
      level: 'INFO',
      eventType: 'BATCH_STALL_CLEARED',
      message: `batch goes on: ${DESCRIPTION[row.was]} no longer holds it${seconds !== null ? ` (stalled ${seconds} s)` : ''}`,
      details: { reason: row.was, stalled_s: seconds },
    });
  });
}
