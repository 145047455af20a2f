/**
 * Remembered stories against real Postgres, written the way the checker writes them (recordSuccesses): one
 * story.posted per item and one story.ended after it across batches, nothing twice when attempts of a chunk
 * overlap or a chunk is retried after its results committed, nothing at all for an answer from recent results.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordSuccesses, type CheckSuccess } from '../../src/repos/batch-profiles.js';
import { answerFromCache } from '../../src/repos/result-cache.js';
import { cancelBatch, claimNextBatch, completeBatch, createBatch } from '../../src/repos/queue.js';
import type { SeenStoryItem } from '../../src/upstream/answer-bodies.js';
import { newProfiles, runningBatch } from '../helpers/batches.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

const HOUR = 3_600_000;
const T0 = Date.parse('2026-12-01T00:00:00Z');
const at = (h: number) => new Date(T0 + h * HOUR);
const item = (pk: string, takenH: number): SeenStoryItem => ({ pk, takenAt: at(takenH), expiringAt: at(takenH + 24), mediaType: 'video' });

/** The items live at hour `h` among a profile's whole timeline. */
const liveAt = (timeline: SeenStoryItem[], h: number) => timeline.filter((i) => i.takenAt <= at(h) && i.expiringAt > at(h));

const answer = (profileId: string, items: SeenStoryItem[]): CheckSuccess => ({
  profileId,
  hasStory: items.length > 0,
  storyCount: items.length,
  latestStoryAt: null,
  items,
});

const record = (batchId: string, checkedAt: Date, results: CheckSuccess[]) =>
  recordSuccesses(db.sql, { batchId, proxyId: null, durationMs: 3, countAttempt: true, checkedAt }, results);

async function eventsOf(profileIds: string[]) {
  return db.sql<{ seq: string; type: string; profile_id: string; item_pk: string; batch_id: string; occurred_at: Date }[]>`
    select seq, type, profile_id, item_pk, batch_id, occurred_at from story_events
    where profile_id = any(${profileIds}::uuid[]) order by seq`;
}

/** Exactly one posted per remembered item, and at most one ended, after it. */
async function expectOncePerItem(profileIds: string[]) {
  const events = await eventsOf(profileIds);
  const items = await db.sql<{ profile_id: string; item_pk: string; ended_at: Date | null }[]>`
    select profile_id, item_pk, ended_at from story_items where profile_id = any(${profileIds}::uuid[])`;
  for (const i of items) {
    const mine = events.filter((e) => e.profile_id === i.profile_id && e.item_pk === i.item_pk);
    expect(mine.map((e) => e.type)).toEqual(i.ended_at ? ['story.posted', 'story.ended'] : ['story.posted']);
  }
  expect(events).toHaveLength(items.length + items.filter((i) => i.ended_at).length);
  return { events, items };
}

/** Ends the batch (done when every profile is recorded, else cancelled), so the next one can run. */
async function finish(batchId: string) {
  const batch = await completeBatch(db.sql, batchId);
  if (batch.status === 'running') await cancelBatch(db.sql, batchId);
}

describe('story items and events', () => {
  it('three batches over the same profiles post each item once and end it after, with the batches that saw it', async () => {
    const [p1, p2] = await newProfiles(db.sql, 2, 'st');
    const timelines = { [p1!]: [item('a', 0), item('b', 10), item('c', 20)], [p2!]: [item('x', 5)] };
    const batches: string[] = [];
    for (const h of [6, 12, 30]) {
      const batch = await runningBatch(db.sql, [p1!, p2!]);
      batches.push(batch.id);
      await record(batch.id, at(h), [answer(p1!, liveAt(timelines[p1!]!, h)), answer(p2!, liveAt(timelines[p2!]!, h))]);
      await finish(batch.id);
    }
    const { events, items } = await expectOncePerItem([p1!, p2!]);
    expect(items).toHaveLength(4);
    const byKey = (pk: string, type: string) => events.find((e) => e.item_pk === pk && e.type === type);
    // a posted at its taken_at, first seen by the first batch; it expired (h 24) before the third batch looked
    expect(byKey('a', 'story.posted')).toMatchObject({ batch_id: batches[0], occurred_at: at(0) });
    expect(byKey('a', 'story.ended')).toMatchObject({ batch_id: batches[2], occurred_at: at(24) });
    expect(byKey('c', 'story.posted')).toMatchObject({ batch_id: batches[2] });
    expect(byKey('c', 'story.ended')).toBeUndefined();
    const [a] = await db.sql`select * from story_items where profile_id = ${p1!} and item_pk = 'a'`;
    expect(a).toMatchObject({ first_seen_batch_id: batches[0], last_seen_batch_id: batches[1], media_type: 'video' });
  });

  it('an item taken down before it expires ends at the check that found it gone', async () => {
    const [p] = await newProfiles(db.sql, 1, 'st');
    const first = await runningBatch(db.sql, [p!]);
    await record(first.id, at(1), [answer(p!, [item('gone', 0)])]);
    await finish(first.id);
    const second = await runningBatch(db.sql, [p!]);
    await record(second.id, at(3), [answer(p!, [])]);
    const { events } = await expectOncePerItem([p!]);
    expect(events.at(-1)).toMatchObject({ type: 'story.ended', occurred_at: at(3), batch_id: second.id });
    await finish(second.id);
  });

  it('overlapping attempts of one chunk, in either order, give one event per item', async () => {
    const ids = await newProfiles(db.sql, 40, 'st');
    const batch = await runningBatch(db.sql, ids);
    const results = ids.map((id, n) => answer(id, [item(`i${n}`, 0), item(`j${n}`, 1)]));
    const later = ids.map((id, n) => answer(id, [item(`i${n}`, 0), item(`j${n}`, 1), item(`k${n}`, 2)]));
    const settled = await Promise.all([
      record(batch.id, at(2), results),
      record(batch.id, at(2.5), [...later].reverse()),
      record(batch.id, at(2), results),
    ]);
    // each profile's result was recorded by one attempt only, and so were its stories
    expect(settled.reduce((n, r) => n + r.recorded, 0)).toBe(40);
    const posted = settled.reduce((n, r) => n + r.storyEvents.posted, 0);
    const { items } = await expectOncePerItem(ids);
    expect(posted).toBe(items.length);
    await finish(batch.id);
  });

  it('a chunk retried after its results committed writes no event', async () => {
    const ids = await newProfiles(db.sql, 3, 'st');
    const batch = await runningBatch(db.sql, ids);
    const first = await record(batch.id, at(1), ids.map((id) => answer(id, [item(`r-${id}`, 0)])));
    expect(first.storyEvents).toEqual({ posted: 3, ended: 0 });
    // the retry asked again and the source now lists another item, and none of the first
    const retry = await record(batch.id, at(2), ids.map((id) => answer(id, [item(`s-${id}`, 1)])));
    expect(retry).toEqual({ recorded: 0, withStory: 0, storyEvents: { posted: 0, ended: 0 } });
    const { items } = await expectOncePerItem(ids);
    expect(items.map((i) => i.item_pk).sort()).toEqual(ids.map((id) => `r-${id}`).sort());
    await finish(batch.id);
  });

  it('an answer from recent results, or a result that does not list items, leaves stories alone', async () => {
    const [p] = await newProfiles(db.sql, 1, 'st');
    const first = await runningBatch(db.sql, [p!]);
    await record(first.id, new Date(), [answer(p!, [item('kept', -1)])]);
    await finish(first.id);
    const before = await eventsOf([p!]);

    const cached = await createBatch(db.sql, { profileIds: [p!], maxAgeS: 3600 });
    expect((await claimNextBatch(db.sql))?.id).toBe(cached.id);
    expect((await answerFromCache(db.sql, cached.id, [p!], 3600)).answered.size).toBe(1);
    await finish(cached.id);

    const plain = await runningBatch(db.sql, [p!]);
    await record(plain.id, at(48), [{ profileId: p!, hasStory: false, storyCount: 0, latestStoryAt: null }]);
    await finish(plain.id);
    expect(await eventsOf([p!])).toEqual(before);
  });

  it('numbers events in commit order: a transaction that commits later never shows a lower seq', async () => {
    const ids = await newProfiles(db.sql, 2, 'st');
    const batch = await runningBatch(db.sql, ids);
    // a transaction that inserts first and commits last (held open from outside, as a slow writer would)
    let commit!: () => void;
    let inserted!: () => void;
    const done = new Promise<void>((resolve) => (commit = resolve));
    const insertedYet = new Promise<void>((resolve) => (inserted = resolve));
    const slow = db.sql.begin(async (tx) => {
      await tx`insert into story_events (type, profile_id, item_pk, occurred_at) values ('story.posted', ${ids[0]!}, 'slow', now())`;
      inserted();
      await done;
    });
    await insertedYet;
    await record(batch.id, at(1), [answer(ids[1]!, [item('fast', 0)])]);
    commit();
    await slow;
    const events = await eventsOf(ids);
    expect(events.map((e) => e.item_pk)).toEqual(['fast', 'slow']);
    await finish(batch.id);
  });
});
