/**
 * One tick of a watch, in Postgres: the batch of (watch, scheduled time), created and queued at most once.
 *
 * - The batch of this tick exists already (a retried tick, or one whose activity failed after its commit): that
 *   batch is the answer, nothing new is created.
 * - Otherwise the tick is skipped when the watch is gone or paused, when its previous batch is still queued,
 *   running or paused (the Schedule's overlap policy skips a tick while the previous tick's workflow runs; this
 *   skips one while the previous tick's batch does), or when the selection holds no profile.
 * - Otherwise one batch is created and queued through `createBatch` (src/repos/queue.ts) with the watch's name,
 *   priority and max_age_s; a niche is read now, so profiles added to it are watched from this tick on. Two
 *   ticks of the same time racing each other meet at the unique index batches_watch_tick_idx: the loser returns
 *   the winner's batch.
 *
 * The outcome is recorded on the watch (last_tick_*, ticks_skipped), once per scheduled time: a retry does not
 * count a skip twice, and a late retry of an older tick does not overwrite a newer one's outcome.
 */
import type { Sql } from '../db/sql.js';
import { MAX_BATCH_PROFILES, type BatchStatus, type WatchTickResult } from '../enums.js';
import type { BatchRow } from './batches.js';
import { isUuid, pgCode, PG_FOREIGN_KEY_VIOLATION, PG_UNIQUE_VIOLATION, ValidationError } from './errors.js';
import { profileIdsOfNiche } from './profiles.js';
import { createBatch } from './queue.js';
import { watchProfileIds, type WatchRow } from './watches.js';

/** Why a tick created nothing. */
export const WATCH_SKIP_REASONS = ['watch_missing', 'watch_paused', 'previous_batch_unfinished', 'empty_selection', 'selection_too_large'] as const;
export type WatchSkipReason = (typeof WATCH_SKIP_REASONS)[number];

/** A previous batch in one of these keeps the next tick from creating one. */
const UNFINISHED: readonly BatchStatus[] = ['queued', 'running', 'paused'];

export interface WatchTick {
  watchId: string;
  scheduledAt: Date;
}

export type TickOutcome =
  | {
      result: Extract<WatchTickResult, 'created'>;
      batch: BatchRow;
      /** True when the batch existed already (a retried tick): nothing was created this time. */
      existing: boolean;
      /** True when this call recorded the outcome on the watch first (what a metric counts). */
      firstRecord: boolean;
    }
  | {
      result: Extract<WatchTickResult, 'skipped'>;
      reason: WatchSkipReason;
      /** The previous batch, when it is why. */
      previousBatchId: string | null;
      firstRecord: boolean;
    };

async function batchOfTick(sql: Sql, tick: WatchTick): Promise<BatchRow | null> {
  const [row] = await sql<BatchRow[]>`
    select * from batches where watch_id = ${tick.watchId} and scheduled_at = ${tick.scheduledAt}`;
  return row ?? null;
}

/** The profiles a tick of `watch` checks, in order: its own, or its niche's as they are now. */
async function selectionOf(sql: Sql, watch: Pick<WatchRow, 'id' | 'niche_id'>): Promise<string[]> {
  return (await watchProfileIds(sql, watch)) ?? profileIdsOfNiche(sql, watch.niche_id!);
}

/** Records the tick's outcome on the watch; true when this scheduled time was not recorded as this outcome before. */
async function recordTick(sql: Sql, tick: WatchTick, result: WatchTickResult, reason: WatchSkipReason | null): Promise<boolean> {
  const [row] = await sql<{ first: boolean }[]>`
    with before as (
      select id, last_tick_at,
        (last_tick_at is distinct from ${tick.scheduledAt}::timestamptz or last_tick_result is distinct from ${result}) as first
      from watches where id = ${tick.watchId} for update
    )
    update watches w set
      last_tick_at = ${tick.scheduledAt},
      last_tick_result = ${result},
      last_skip_reason = ${reason},
      ticks_skipped = w.ticks_skipped + case when ${result} = 'skipped' and before.first then 1 else 0 end
    from before
    where w.id = before.id and (before.last_tick_at is null or before.last_tick_at <= ${tick.scheduledAt}::timestamptz)
    returning before.first`;
  return row?.first ?? false;
}

async function skip(sql: Sql, tick: WatchTick, reason: WatchSkipReason, previousBatchId: string | null = null): Promise<TickOutcome> {
  const firstRecord = reason === 'watch_missing' ? true : await recordTick(sql, tick, 'skipped', reason);
  return { result: 'skipped', reason, previousBatchId, firstRecord };
}

async function created(sql: Sql, tick: WatchTick, batch: BatchRow, existing: boolean): Promise<TickOutcome> {
  const firstRecord = await recordTick(sql, tick, 'created', null);
  return { result: 'created', batch, existing, firstRecord };
}

/** The batch's name: the watch's and the tick's time, so a list of batches reads as the watch's history. */
export function tickBatchName(watchName: string, scheduledAt: Date): string {
  return `${watchName} ${scheduledAt.toISOString()}`.slice(0, 200);
}

/** One tick (see the top of this file). */
export async function runWatchTick(sql: Sql, tick: WatchTick): Promise<TickOutcome> {
  if (!isUuid(tick.watchId)) return skip(sql, tick, 'watch_missing');
  const done = await batchOfTick(sql, tick);
  if (done) return created(sql, tick, done, true);

  const [watch] = await sql<WatchRow[]>`select * from watches where id = ${tick.watchId}`;
  if (!watch) return skip(sql, tick, 'watch_missing');
  if (watch.paused) return skip(sql, tick, 'watch_paused');
  const [previous] = await sql<{ id: string; status: BatchStatus }[]>`
    select id, status from batches where watch_id = ${watch.id} and scheduled_at < ${tick.scheduledAt}
    order by scheduled_at desc limit 1`;
  if (previous && UNFINISHED.includes(previous.status)) return skip(sql, tick, 'previous_batch_unfinished', previous.id);

  const profileIds = await selectionOf(sql, watch);
  if (profileIds.length === 0) return skip(sql, tick, 'empty_selection');
  if (profileIds.length > MAX_BATCH_PROFILES) return skip(sql, tick, 'selection_too_large');
  try {
    const batch = await createBatch(sql, {
      profileIds,
      name: tickBatchName(watch.name, tick.scheduledAt),
      priority: watch.priority,
      maxAgeS: watch.max_age_s,
      watch: { id: watch.id, scheduledAt: tick.scheduledAt },
    });
    return created(sql, tick, batch, false);
  } catch (err) {
    // the profiles were deleted meanwhile, or the watch was
    if (err instanceof ValidationError) return skip(sql, tick, 'empty_selection');
    if (pgCode(err) === PG_FOREIGN_KEY_VIOLATION) return skip(sql, tick, 'watch_missing');
    // a concurrent run of this very tick committed first: its batch is this tick's
    if (pgCode(err) !== PG_UNIQUE_VIOLATION) throw err;
    const winner = await batchOfTick(sql, tick);
    if (!winner) throw err;
    return created(sql, tick, winner, true);
  }
}
