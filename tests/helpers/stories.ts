/**
 * Story items, story events and finished checks written straight into Postgres, as the worker's transaction
 * would leave them, for the tests of the routes that read them (the worker's own writing is tested elsewhere).
 */
import type { Sql } from '../../src/db/sql.js';
import type { Queryable } from '../../src/repos/logs.js';
import type { BatchProfileStatus, ResultSource, StoryEventType, StoryMediaType } from '../../src/enums.js';

const HOUR_MS = 3_600_000;

/** A time `hours` from now (negative: in the past). */
export function hoursFromNow(hours: number): Date {
  return new Date(Date.now() + hours * HOUR_MS);
}

export async function insertProfile(sql: Sql, username: string, nicheId: string | null = null): Promise<string> {
  const [row] = await sql<{ id: string }[]>`insert into profiles (username, niche_id) values (${username}, ${nicheId}) returning id`;
  return row!.id;
}

export async function insertNiche(sql: Sql, name: string): Promise<string> {
  const [row] = await sql<{ id: string }[]>`insert into niches (name) values (${name}) returning id`;
  return row!.id;
}

/** A finished batch outside the queue (its counters are not the subject of these tests). */
export async function insertDoneBatch(sql: Sql, name: string | null, totalProfiles = 100_000): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    insert into batches (name, status, total_profiles) values (${name}, 'done', ${totalProfiles}) returning id`;
  return row!.id;
}

export interface StoryItemInput {
  itemPk: string;
  takenAt: Date;
  expiringAt: Date;
  mediaType?: StoryMediaType | null;
  endedAt?: Date | null;
  firstSeenAt?: Date;
  firstSeenBatchId?: string | null;
  lastSeenAt?: Date;
  lastSeenBatchId?: string | null;
}

export async function insertStoryItem(sql: Sql, profileId: string, item: StoryItemInput): Promise<void> {
  const firstSeen = item.firstSeenAt ?? item.takenAt;
  await sql`
    insert into story_items (profile_id, item_pk, taken_at, expiring_at, media_type, first_seen_at, first_seen_batch_id,
      last_seen_at, last_seen_batch_id, ended_at)
    values (${profileId}, ${item.itemPk}, ${item.takenAt}, ${item.expiringAt}, ${item.mediaType ?? null}, ${firstSeen},
      ${item.firstSeenBatchId ?? null}, ${item.lastSeenAt ?? firstSeen}, ${item.lastSeenBatchId ?? null}, ${item.endedAt ?? null})`;
}

export interface StoryEventInput {
  type: StoryEventType;
  profileId: string;
  itemPk: string;
  batchId?: string | null;
  occurredAt?: Date;
}

/** Inserts events on `sql` or in the caller's transaction, in the order given (their seqs are drawn at commit). */
export async function writeStoryEvents(sql: Queryable, events: StoryEventInput[]): Promise<void> {
  for (const e of events) {
    const details = { taken_at: hoursFromNow(-1).toISOString(), expiring_at: hoursFromNow(23).toISOString(), media_type: 'image' };
    await sql`
      insert into story_events (type, profile_id, item_pk, batch_id, occurred_at, details)
      values (${e.type}, ${e.profileId}, ${e.itemPk}, ${e.batchId ?? null}, ${e.occurredAt ?? new Date()}, ${sql.json(details)})`;
  }
}

/** The seqs of committed events, in the order given. */
export async function seqsOf(sql: Sql, events: StoryEventInput[]): Promise<number[]> {
  const seqs: number[] = [];
  for (const e of events) {
    const [row] = await sql<{ seq: number }[]>`
      select seq from story_events where profile_id = ${e.profileId} and item_pk = ${e.itemPk} and type = ${e.type}`;
    seqs.push(row!.seq);
  }
  return seqs;
}

/** Inserts events in one transaction, in the order given; returns their seqs (drawn at commit). */
export async function insertStoryEvents(sql: Sql, events: StoryEventInput[]): Promise<number[]> {
  await sql.begin((tx) => writeStoryEvents(tx, events));
  return seqsOf(sql, events);
}

export interface CheckInput {
  batchId: string;
  profileId: string;
  ordinal: number;
  status?: BatchProfileStatus;
  checkedAt?: Date | null;
  hasStory?: boolean | null;
  storyCount?: number | null;
  source?: ResultSource | null;
  error?: string | null;
  durationMs?: number | null;
}

/** A profile's row in a batch: completed with a result from upstream unless told otherwise. */
export async function insertCheck(sql: Sql, check: CheckInput): Promise<void> {
  const status = check.status ?? 'completed';
  const checkedAt = check.checkedAt === undefined ? new Date() : check.checkedAt;
  await sql`
    insert into batch_profiles (batch_id, profile_id, ordinal, status, has_story, story_count, error, attempts, duration_ms,
      checked_at, source)
    values (${check.batchId}, ${check.profileId}, ${check.ordinal}, ${status},
      ${check.hasStory === undefined ? (status === 'completed' ? true : null) : check.hasStory},
      ${check.storyCount === undefined ? (status === 'completed' ? 1 : null) : check.storyCount},
      ${check.error ?? null}, 1, ${check.durationMs === undefined ? 40 : check.durationMs}, ${checkedAt},
      ${check.source === undefined ? (status === 'completed' ? 'upstream' : null) : check.source})`;
}
