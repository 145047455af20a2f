/**
 * Batches as stored, and the reads of them. Everything that changes a batch's status or place in the queue
 * lives in queue.ts, under the queue's lock order.
 */
import type { Sql } from '../db/sql.js';
import type { BatchStatus, StallReason } from '../enums.js';
import { isUuid, NotFoundError } from './errors.js';
import { decodeTimeKey, exactTime, toTimeKeyedPage, type Page } from './pagination.js';

export interface BatchRow {
  id: string;
  name: string | null;
  status: BatchStatus;
  position: number | null;
  priority: number;
  /** Results younger than this many seconds answer a profile without a request (0 = never). */
  max_age_s: number;
  total_profiles: number;
  successful_checks: number;
  failed_checks: number;
  stories_found: number;
  error: string | null;
  stalled_reason: StallReason | null;
  stalled_since: Date | null;
  workflow_id: string | null;
  run_count: number;
  /** The watch whose tick created it (null for any other batch, or once the watch is deleted). */
  watch_id: string | null;
  /** The scheduled time of that tick (kept when the watch is deleted). */
  scheduled_at: Date | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}

export async function getBatch(sql: Sql, id: string): Promise<BatchRow> {
  if (!isUuid(id)) throw new NotFoundError(`batch ${id} not found`);
  const [row] = await sql<BatchRow[]>`select * from batches where id = ${id}`;
  if (!row) throw new NotFoundError(`batch ${id} not found`);
  return row;
}

export async function listBatches(
  sql: Sql,
  options: { status?: BatchStatus; watchId?: string; limit: number; cursor?: string },
): Promise<Page<BatchRow>> {
  // a forged cursor is the caller's mistake (400), not a Postgres cast error: `[created_at ISO, id]`
  const key = decodeTimeKey(options.cursor, isUuid);
  // created_at is kept to the microsecond, a JavaScript Date to the millisecond: the key is the exact
  // timestamp as text from Postgres, and goes back in as text (a parameter typed timestamptz would pass
  // through a Date and lose the microseconds again)
  const rows = await sql<Array<BatchRow & { key_time: string }>>`
    select *, ${exactTime(sql, 'created_at')} as key_time
    from batches
    where true
      ${options.status ? sql`and status = ${options.status}` : sql``}
      ${options.watchId ? sql`and watch_id = ${options.watchId}` : sql``}
      ${key ? sql`and (created_at, id) < (${key[0]}::text::timestamptz, ${key[1]}::uuid)` : sql``}
    order by created_at desc, id desc
    limit ${options.limit + 1}`;
  return toTimeKeyedPage(rows, options.limit, (r) => r.id);
}

/** What the batch's run reads of it along with its status: why it is stalled, and its counters. */
export interface RunState {
  /** Null when the batch no longer exists. */
  status: BatchStatus | null;
  queuePaused: boolean;
  maxAgeS: number;
  stalledReason: StallReason | null;
  counts: { totalProfiles: number; successful: number; failed: number; storiesFound: number };
}

/**
 * What a running check needs to know before it sends anything: the batch's stored status (null when it no
 * longer exists) and whether the whole queue is held. Read by the workflow's page loads and before every
 * upstream request, so a lost signal is repaired. The stall and the counters come from the same row, for the
 * run's description in the Web UI.
 */
export async function readRunState(sql: Sql, batchId: string): Promise<RunState> {
  const [row] = await sql<
    {
      status: BatchStatus | null;
      paused: boolean;
      max_age_s: number | null;
      stalled_reason: StallReason | null;
      total_profiles: number | null;
      successful_checks: number | null;
      failed_checks: number | null;
      stories_found: number | null;
    }[]
  >`
    select b.status, q.paused, b.max_age_s, b.stalled_reason, b.total_profiles, b.successful_checks, b.failed_checks,
      b.stories_found
    from queue_state q left join batches b on b.id = ${batchId}
    where q.singleton`;
  return {
    status: row?.status ?? null,
    queuePaused: row?.paused ?? false,
    maxAgeS: row?.max_age_s ?? 0,
    stalledReason: row?.stalled_reason ?? null,
    counts: {
      totalProfiles: row?.total_profiles ?? 0,
      successful: row?.successful_checks ?? 0,
      failed: row?.failed_checks ?? 0,
      storiesFound: row?.stories_found ?? 0,
    },
  };
}
