/**
 * Reading story_events (`GET /events`, its NDJSON export and `GET /events/stream`), in seq order. A row's seq
 * is drawn when its transaction commits, under one lock (sql/011_story_items_and_events.sql), so every snapshot
 * sees a prefix of the seq order: a reader that goes on from the last seq it read skips nothing and repeats
 * nothing. Each event carries its profile's username and niche (the niche the profile is in now).
 */
import type { StoryEventType } from '../enums.js';
import type { Queryable } from './logs.js';

export interface StoryEventRow {
  seq: number;
  type: StoryEventType;
  profile_id: string;
  username: string;
  niche_id: string | null;
  item_pk: string;
  batch_id: string | null;
  occurred_at: Date;
  details: unknown;
  created_at: Date;
}

/** Which events a reader wants; each filter left out lets every value through. */
export interface StoryEventFilter {
  type?: StoryEventType | undefined;
  nicheId?: string | undefined;
  profileId?: string | undefined;
}

/** Whether an event passes the filter (what the SQL below selects, for events already read). */
export function matchesStoryEvent(filter: StoryEventFilter, event: Pick<StoryEventRow, 'type' | 'niche_id' | 'profile_id'>): boolean {
  return (
    (filter.type === undefined || event.type === filter.type) &&
    (filter.nicheId === undefined || event.niche_id === filter.nicheId.toLowerCase()) &&
    (filter.profileId === undefined || event.profile_id === filter.profileId.toLowerCase())
  );
}

/** Every event after `afterSeq` that passes the filter, in seq order (or newest first), without a limit. */
function eventsAfter(sql: Queryable, afterSeq: number, filter: StoryEventFilter, order: 'asc' | 'desc' = 'asc') {
  return sql`
    select e.seq, e.type, e.profile_id, p.username, p.niche_id, e.item_pk, e.batch_id, e.occurred_at, e.details, e.created_at
    from story_events e join profiles p on p.id = e.profile_id
    where e.seq > ${afterSeq}
      ${filter.type !== undefined ? sql`and e.type = ${filter.type}` : sql``}
      ${filter.profileId !== undefined ? sql`and e.profile_id = ${filter.profileId}::uuid` : sql``}
      ${filter.nicheId !== undefined ? sql`and p.niche_id = ${filter.nicheId}::uuid` : sql``}
    order by e.seq ${order === 'desc' ? sql`desc` : sql`asc`}`;
}

/** Up to `limit` events after `afterSeq` that pass the filter, oldest first. */
export async function storyEventsAfter(sql: Queryable, afterSeq: number, filter: StoryEventFilter, limit: number): Promise<StoryEventRow[]> {
  return sql<StoryEventRow[]>`${eventsAfter(sql, afterSeq, filter)} limit ${limit}`;
}

/**
 * The newest `limit` events after `afterSeq` that pass the filter, oldest first, and the newest seq of all events,
 * read in one statement (one snapshot): every matching event above `head` is yet to be committed.
 */
export async function latestStoryEvents(
  sql: Queryable,
  afterSeq: number,
  filter: StoryEventFilter,
  limit: number,
): Promise<{ rows: StoryEventRow[]; head: number }> {
  const rows = await sql<(StoryEventRow & { head: number })[]>`
    with head as (select coalesce(max(seq), 0) as head from story_events),
    newest as (${eventsAfter(sql, afterSeq, filter, 'desc')} limit ${limit})
    select h.head, n.* from head h left join newest n on true
    order by n.seq`;
  const head = Number(rows[0]?.head ?? 0);
  return { rows: rows.filter((r) => r.seq !== null).map(({ head: _head, ...row }) => row), head };
}

/** Every event after `afterSeq` that passes the filter, read `rowsPerRead` at a time from one cursor. */
export function storyEventsCursor(sql: Queryable, afterSeq: number, filter: StoryEventFilter, rowsPerRead: number): AsyncIterable<StoryEventRow[]> {
  return sql<StoryEventRow[]>`${eventsAfter(sql, afterSeq, filter)}`.cursor(rowsPerRead);
}

/** The newest seq (0 when there is none): every event committed so far is at or below it. */
export async function latestStoryEventSeq(sql: Queryable): Promise<number> {
  const [row] = await sql<{ seq: number | null }[]>`select max(seq) as seq from story_events`;
  return row?.seq ?? 0;
}
