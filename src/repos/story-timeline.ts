/**
 * A profile's story timeline (`GET /profiles/:id/stories`): every story item its checks have seen, live or
 * ended, newest first, from the stored rows alone (sql/011_story_items_and_events.sql). An item is live while
 * it has not ended and its expiring_at is still ahead; once ended, its end is `coalesce(ended_at, expiring_at)`.
 */
import type { StoryMediaType } from '../enums.js';
import type { Queryable } from './logs.js';
import { exactTime, type Page } from './pagination.js';
import { profileHistoryPage, type HistoryPageOptions } from './profile-history.js';

export interface StoryItemRow {
  item_pk: string;
  taken_at: Date;
  expiring_at: Date;
  media_type: StoryMediaType | null;
  live: boolean;
  /** Null while live; for an ended item, when it ended (its expiring_at when nothing ended it sooner). */
  ended_at: Date | null;
  first_seen_at: Date;
  first_seen_batch_id: string | null;
  last_seen_at: Date;
  last_seen_batch_id: string | null;
}

/** The profile's items, `taken_at desc, item_pk desc`; an unknown profile is a NotFoundError, not an empty page. */
export async function listStoryItems(sql: Queryable, profileId: string, options: HistoryPageOptions): Promise<Page<StoryItemRow>> {
  const itemPk = { valid: (pk: unknown) => typeof pk === 'string', of: (row: StoryItemRow) => row.item_pk };
  // one now() for the whole page: every item of it is judged live or ended at the same instant
  return profileHistoryPage(sql, profileId, options, itemPk, (key) => sql<Array<StoryItemRow & { key_time: string }>>`
    select item_pk, taken_at, expiring_at, media_type, state.live,
      case when state.live then null else coalesce(ended_at, expiring_at) end as ended_at,
      first_seen_at, first_seen_batch_id, last_seen_at, last_seen_batch_id, ${exactTime(sql, 'taken_at')} as key_time
    from story_items cross join lateral (select ended_at is null and expiring_at > now() as live) state
    where profile_id = ${profileId}
      ${key ? sql`and (taken_at, item_pk) < (${key[0]}::text::timestamptz, ${key[1]}::text)` : sql``}
    order by taken_at desc, item_pk desc
    limit ${options.limit + 1}`);
}
