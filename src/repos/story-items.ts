/**
 * Remembered stories: story_items and story_events (sql/011_story_items_and_events.sql), written inside the
 * transaction that records a chunk's results (recordSuccesses, ./batch-profiles.ts), and only for the profiles
 * whose result that transaction changed. So a retried activity, a replayed workflow or an overlapping attempt of
 * the same chunk writes nothing twice; the unique keys (an item once per profile, an event once per item and
 * type) say the same again in the database.
 *
 * Locks: the caller holds the profiles' rows (FOR NO KEY UPDATE, in id order) before this runs, so two
 * transactions never diff one profile's items at once; story_items rows come after them in the project's lock
 * order (src/repos/queue.ts), and story_events take their seq at commit like batch logs.
 */
import type { Tx } from '../db/sql.js';
import type { StoryEventType } from '../enums.js';
import type { SeenStoryItem } from '../upstream/answer-bodies.js';
import { diffStories, type OpenStoryItem } from './story-diff.js';

/** What one check listed for one profile. */
export interface ListedStories {
  profileId: string;
  items: SeenStoryItem[];
}

export interface StoryEventCounts {
  posted: number;
  ended: number;
}

interface Decisions {
  posted: Array<{ profileId: string; item: SeenStoryItem }>;
  seen: Array<{ profileId: string; pk: string }>;
  ended: Array<{ profileId: string; pk: string; endedAt: Date }>;
}

/** Decides, per profile, what its check means for its open items (src/repos/story-diff.ts). */
function decide(open: Map<string, OpenStoryItem[]>, listed: ListedStories[], checkedAt: Date): Decisions {
  const out: Decisions = { posted: [], seen: [], ended: [] };
  for (const { profileId, items } of listed) {
    const diff = diffStories(open.get(profileId) ?? [], items, checkedAt);
    for (const item of diff.posted) out.posted.push({ profileId, item });
    for (const pk of diff.seenAgain) out.seen.push({ profileId, pk });
    for (const e of diff.ended) out.ended.push({ profileId, ...e });
  }
  return out;
}

const iso = (d: Date) => d.toISOString();

/**
 * Records what `listed` says about the profiles' stories, seen at `checkedAt` in batch `batchId`; returns how many
 * events it wrote. Three statements whatever the number of profiles: read the open items, then one statement that
 * inserts, updates and numbers the events.
 */
export async function recordStoryItems(
  tx: Tx,
  ctx: { batchId: string; checkedAt: Date },
  listed: ListedStories[],
): Promise<StoryEventCounts> {
  if (listed.length === 0) return { posted: 0, ended: 0 };
  const openRows = await tx<{ profile_id: string; item_pk: string; expiring_at: Date }[]>`
    select profile_id, item_pk, expiring_at from story_items
    where profile_id = any(${listed.map((l) => l.profileId)}::uuid[]) and ended_at is null`;
  const open = new Map<string, OpenStoryItem[]>();
  for (const r of openRows) {
    const items = open.get(r.profile_id) ?? [];
    items.push({ pk: r.item_pk, expiringAt: r.expiring_at });
    open.set(r.profile_id, items);
  }
  const d = decide(open, listed, ctx.checkedAt);
  if (d.posted.length + d.seen.length + d.ended.length === 0) return { posted: 0, ended: 0 };

  const at = iso(ctx.checkedAt);
  const rows = await tx<{ type: StoryEventType; n: number }[]>`
    with new_items as (
      insert into story_items (profile_id, item_pk, taken_at, expiring_at, media_type,
        first_seen_at, first_seen_batch_id, last_seen_at, last_seen_batch_id)
      select p.profile_id, p.item_pk, p.taken_at, p.expiring_at, p.media_type, ${at}::timestamptz, ${ctx.batchId}::uuid,
        ${at}::timestamptz, ${ctx.batchId}::uuid
      from unnest(${d.posted.map((p) => p.profileId)}::uuid[], ${d.posted.map((p) => p.item.pk)}::text[],
        ${d.posted.map((p) => iso(p.item.takenAt))}::timestamptz[], ${d.posted.map((p) => iso(p.item.expiringAt))}::timestamptz[],
        ${d.posted.map((p) => p.item.mediaType)}::text[]) as p(profile_id, item_pk, taken_at, expiring_at, media_type)
      order by p.profile_id, p.item_pk
      -- an item remembered already (ended, and listed live again) is not posted twice
      on conflict (profile_id, item_pk) do nothing
      returning profile_id, item_pk, taken_at, expiring_at, media_type
    ),
    seen as (
      update story_items s set last_seen_at = ${at}::timestamptz, last_seen_batch_id = ${ctx.batchId}::uuid
      from unnest(${d.seen.map((s) => s.profileId)}::uuid[], ${d.seen.map((s) => s.pk)}::text[]) as x(profile_id, item_pk)
      where s.profile_id = x.profile_id and s.item_pk = x.item_pk and s.ended_at is null
    ),
    gone as (
      update story_items s set ended_at = x.ended_at
      from unnest(${d.ended.map((e) => e.profileId)}::uuid[], ${d.ended.map((e) => e.pk)}::text[],
        ${d.ended.map((e) => iso(e.endedAt))}::timestamptz[]) as x(profile_id, item_pk, ended_at)
      where s.profile_id = x.profile_id and s.item_pk = x.item_pk and s.ended_at is null
      returning s.profile_id, s.item_pk, s.taken_at, s.expiring_at, s.media_type, s.ended_at
    ),
    events as (
      insert into story_events (type, profile_id, item_pk, batch_id, occurred_at, details)
      select e.type, e.profile_id, e.item_pk, ${ctx.batchId}::uuid, e.occurred_at,
        jsonb_build_object('taken_at', e.taken_at, 'expiring_at', e.expiring_at, 'media_type', e.media_type)
      from (
        select 'story.posted' as type, profile_id, item_pk, taken_at as occurred_at, taken_at, expiring_at, media_type from new_items
        union all
        select 'story.ended', profile_id, item_pk, ended_at, taken_at, expiring_at, media_type from gone
      ) e
      order by e.profile_id, e.item_pk, e.type desc
      on conflict on constraint story_events_once do nothing
      returning type
    )
    select type, count(*)::int as n from events group by type`;
  const count = (type: StoryEventType) => rows.find((r) => r.type === type)?.n ?? 0;
  return { posted: count('story.posted'), ended: count('story.ended') };
}
