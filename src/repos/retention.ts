/**
 * Retention: the rows the `retention` schedule deletes once they are old enough (docs/operations.md, "The
 * retention schedule"):
 *
 * - story events recorded (`created_at`), and story items ended (`coalesce(ended_at, expiring_at)`), before the
 *   story cutoff. A live item ends after now, so it is never older than a cutoff in the past, whatever its age;
 * - batch logs recorded before the log cutoff, and webhook deliveries that finished (delivered, failed or
 *   cancelled) before it, with their attempts; a delivery still retrying stays;
 * - with a batch cutoff: finished batches (`done`, `cancelled`, `error`) that ended (`completed_at`, else
 *   `updated_at`) before it, with their batch_profiles and batch_logs. Queued, running and paused ones stay.
 *
 * Every delete goes in slices of at most `batchSize` rows per statement, again until a statement deletes fewer:
 * no statement holds its row locks for long, and the API and the chunks writing results carry on beside it.
 * `between` runs after each slice (the activity heartbeats there, and stops there when it is cancelled; what
 * was deleted stays deleted).
 */
import { transaction, withRetry, type Sql, type Tx } from '../db/sql.js';

export interface RetentionPolicy {
  storyDays: number;
  logDays: number;
  /** null: batches are kept, however old. */
  batchDays: number | null;
}

/** Rows a round removed, per table (batch_logs and batch_profiles include those of the batches removed). */
export interface RemovedRows {
  story_events: number;
  story_items: number;
  batch_logs: number;
  batches: number;
  batch_profiles: number;
  webhook_deliveries: number;
}

export interface SliceOptions {
  /** Rows per statement, at most. */
  batchSize?: number;
  /** Runs after every statement; it may throw to stop the round. */
  between?: () => void;
}

/** Small enough that a slice takes milliseconds, large enough that a million rows take a thousand statements. */
export const RETENTION_BATCH_SIZE = 1_000;

interface Slicing {
  size: number;
  between: () => void;
}

/** Deletes what `policy` says has expired, slice by slice, and counts what went. */
export async function removeExpiredRows(sql: Sql, policy: RetentionPolicy, options: SliceOptions = {}): Promise<RemovedRows> {
  const slicing = { size: options.batchSize ?? RETENTION_BATCH_SIZE, between: options.between ?? (() => {}) };
  const storyCutoff = await cutoff(sql, policy.storyDays);
  const logCutoff = await cutoff(sql, policy.logDays);
  const removed: RemovedRows = {
    story_events: await removeOldStoryEvents(sql, storyCutoff, slicing),
    story_items: await removeEndedStoryItems(sql, storyCutoff, slicing),
    batch_logs: await removeOldBatchLogs(sql, logCutoff, slicing),
    batches: 0,
    batch_profiles: 0,
    webhook_deliveries: await removeFinishedDeliveries(sql, logCutoff, slicing),
  };
  if (policy.batchDays === null) return removed;
  const batches = await removeFinishedBatches(sql, await cutoff(sql, policy.batchDays), slicing);
  return { ...removed, batches: batches.batches, batch_profiles: batches.batch_profiles, batch_logs: removed.batch_logs + batches.batch_logs };
}

/** `days` before now, on the database's clock: the moment a row must be older than to go. */
async function cutoff(sql: Sql, days: number): Promise<Date> {
  const [row] = await sql<{ at: Date }[]>`select now() - make_interval(days => ${days}::int) as at`;
  return row!.at;
}

/** Runs `slice` until it deletes fewer than a full slice; returns the rows deleted. */
async function inSlices(slicing: Slicing, slice: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await slice();
    total += deleted;
    slicing.between();
    if (deleted < slicing.size) return total;
  }
}

/** One statement on its own: run again should Postgres pick it as a deadlock victim (it rolled back whole). */
const alone = (statement: () => Promise<{ count: number }>) => () => withRetry(statement).then((r) => r.count);

function removeOldStoryEvents(sql: Sql, before: Date, slicing: Slicing): Promise<number> {
  // oldest first, along story_events_created_idx
  return inSlices(
    slicing,
    alone(
      () => sql`
        with doomed as (select seq from story_events where created_at < ${before} order by created_at limit ${slicing.size})
        delete from story_events e using doomed where e.seq = doomed.seq`,
    ),
  );
}

/**
 * Items ended before the cutoff, in two passes, so that each finds its rows through an index: those a check
 * closed (`ended_at`, story_items_ended_idx), then those that expired with no check to close them (`ended_at`
 * null, among the open items of story_items_open_idx). The target's own row is tested again, so an item a check
 * touches meanwhile is judged as it is now.
 */
async function removeEndedStoryItems(sql: Sql, before: Date, slicing: Slicing): Promise<number> {
  const closed = await inSlices(
    slicing,
    alone(
      () => sql`
        with doomed as (select profile_id, item_pk from story_items where ended_at < ${before} order by ended_at limit ${slicing.size})
        delete from story_items i using doomed
        where i.profile_id = doomed.profile_id and i.item_pk = doomed.item_pk and i.ended_at < ${before}`,
    ),
  );
  const expired = await inSlices(
    slicing,
    alone(
      () => sql`
        with doomed as (
          select profile_id, item_pk from story_items where ended_at is null and expiring_at < ${before} limit ${slicing.size}
        )
        delete from story_items i using doomed
        where i.profile_id = doomed.profile_id and i.item_pk = doomed.item_pk and i.ended_at is null and i.expiring_at < ${before}`,
    ),
  );
  return closed + expired;
}

function removeFinishedDeliveries(sql: Sql, before: Date, slicing: Slicing): Promise<number> {
  // oldest first, along webhook_deliveries_finished_idx; their attempts go with them (on delete cascade)
  return inSlices(
    slicing,
    alone(
      () => sql`
        with doomed as (
          select id from webhook_deliveries where finished_at < ${before} order by finished_at limit ${slicing.size}
        )
        delete from webhook_deliveries d using doomed where d.id = doomed.id`,
    ),
  );
}

/**
 * Logs in seq order from the oldest, a page of `size` rows at a time, deleting those of the page recorded before
 * the cutoff; a page that holds a younger row (or is the last) ends the pass. batch_logs has no index on
 * created_at, and needs none: seq is commit order and created_at its transaction's start, so they disagree only
 * across one transaction's length, and an old row past the first young one goes next round.
 */
function removeOldBatchLogs(sql: Sql, before: Date, slicing: Slicing): Promise<number> {
  let after = 0;
  return inSlices(slicing, async () => {
    const [page] = await withRetry(
      () => sql<{ deleted: number; last: number | null }[]>`
        with page as (select seq, created_at from batch_logs where seq > ${after} order by seq limit ${slicing.size}),
        doomed as (
          delete from batch_logs b using page where b.seq = page.seq and page.created_at < ${before}
          returning b.seq
        )
        select (select count(*) from doomed)::int as deleted, (select max(seq) from page) as last`,
    );
    after = page!.last ?? after;
    return page!.deleted;
  });
}

type RemovedWithBatches = Pick<RemovedRows, 'batches' | 'batch_profiles' | 'batch_logs'>;

/** Finished batches that ended before the cutoff, oldest first, each with its rows. */
async function removeFinishedBatches(sql: Sql, before: Date, slicing: Slicing): Promise<RemovedWithBatches> {
  const removed: RemovedWithBatches = { batches: 0, batch_profiles: 0, batch_logs: 0 };
  for (;;) {
    const candidates = await sql<{ id: string }[]>`
      select id from batches
      where status in ('done', 'cancelled', 'error') and coalesce(completed_at, updated_at) < ${before}
      order by coalesce(completed_at, updated_at), id
      limit ${slicing.size}`;
    let gone = 0;
    for (const { id } of candidates) {
      const rows = await removeBatch(sql, id, before, slicing);
      if (!rows) continue;
      gone++;
      removed.batches++;
      removed.batch_profiles += rows.batch_profiles;
      removed.batch_logs += rows.batch_logs;
    }
    if (candidates.length < slicing.size || gone === 0) return removed;
  }
}

/**
 * One batch and its rows, in one transaction that first locks the batch row and checks it is still finished and
 * old: an `error` batch may be started again, and a transition waits on that lock (src/repos/queue.ts), then
 * finds the batch gone, never half deleted. Its rows go in slices, in the project's lock order (its profiles by
 * profile_id, then its logs); no one else writes them, so the locks held until commit hold no one up. Null when
 * the batch changed or went meanwhile.
 */
function removeBatch(sql: Sql, id: string, before: Date, slicing: Slicing): Promise<Omit<RemovedWithBatches, 'batches'> | null> {
  return transaction(sql, async (tx: Tx) => {
    const [locked] = await tx`
      select id from batches
      where id = ${id} and status in ('done', 'cancelled', 'error') and coalesce(completed_at, updated_at) < ${before}
      for update`;
    if (!locked) return null;
    const batchProfiles = await inSlices(slicing, async () => {
      const result = await tx`
        with doomed as (select profile_id from batch_profiles where batch_id = ${id} order by profile_id limit ${slicing.size} for update)
        delete from batch_profiles bp using doomed where bp.batch_id = ${id} and bp.profile_id = doomed.profile_id`;
      return result.count;
    });
    const batchLogs = await inSlices(slicing, async () => {
      const result = await tx`
        with doomed as (select seq from batch_logs where batch_id = ${id} order by seq limit ${slicing.size})
        delete from batch_logs b using doomed where b.seq = doomed.seq`;
      return result.count;
    });
    await tx`delete from batches where id = ${id}`;
    return { batch_profiles: batchProfiles, batch_logs: batchLogs };
  });
}
