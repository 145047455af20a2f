/**
 * A profile's history: its story timeline (`GET /profiles/:id/stories`) and its checks across batches
 * (`GET /profiles/:id/checks`), newest first, paged, live and ended items told apart, 404 for an unknown
 * profile; rows written straight into Postgres as the worker leaves them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ProfileCheck, StoryItem } from '../../../src/api/story-schemas.js';
import { expectError, fieldsOf, startApiUnderTest } from '../../helpers/api.js';
import { hoursFromNow, insertCheck, insertDoneBatch, insertProfile, insertStoryItem } from '../../helpers/stories.js';

const api = startApiUnderTest({ temporal: false });
afterAll(() => api.expectNoSecrets());
const UNKNOWN = '00000000-0000-4000-8000-000000000000';

/** Every item of a list, following next_cursor with pages of `limit`; also checks each page's size. */
async function allPages(path: string, limit: number): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  let cursor: string | null = null;
  do {
    const res = await api.call('GET', `${path}?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.items.length).toBeLessThanOrEqual(limit);
    if (res.body.next_cursor !== null) expect(res.body.items).toHaveLength(limit);
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
  } while (cursor !== null);
  return items;
}

describe('GET /profiles/:id/stories', () => {
  it('lists the profile’s items newest first, live or ended, with exactly the documented fields', async () => {
    const profile = await insertProfile(api.db.sql, 'timeline');
    const other = await insertProfile(api.db.sql, 'someone.else');
    const batch = await insertDoneBatch(api.db.sql, 'morning');
    // live: not ended, expiring ahead
    await insertStoryItem(api.db.sql, profile, { itemPk: '300', takenAt: hoursFromNow(-1), expiringAt: hoursFromNow(23), mediaType: 'video', firstSeenBatchId: batch, lastSeenBatchId: batch });
    // ended by a check that no longer listed it, before it expired
    const goneAt = hoursFromNow(-2);
    await insertStoryItem(api.db.sql, profile, { itemPk: '200', takenAt: hoursFromNow(-3), expiringAt: hoursFromNow(21), endedAt: goneAt });
    // expired with nothing noting it: ended at its expiring_at
    const expiredAt = hoursFromNow(-5);
    await insertStoryItem(api.db.sql, profile, { itemPk: '100', takenAt: hoursFromNow(-29), expiringAt: expiredAt, mediaType: 'image' });
    await insertStoryItem(api.db.sql, other, { itemPk: '999', takenAt: hoursFromNow(-1), expiringAt: hoursFromNow(23) });

    const res = await api.call('GET', `/profiles/${profile}/stories`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.next_cursor).toBeNull();
    const items = res.body.items as Array<Record<string, unknown>>;
    expect(items.map((i) => i.item_pk)).toEqual(['300', '200', '100']);
    for (const item of items) expect(Object.keys(item).sort()).toEqual(fieldsOf(StoryItem));
    expect(items[0]).toMatchObject({ status: 'live', ended_at: null, media_type: 'video', first_seen_batch_id: batch, last_seen_batch_id: batch });
    expect(items[1]).toMatchObject({ status: 'ended', ended_at: goneAt.toISOString(), media_type: null, first_seen_batch_id: null });
    expect(items[2]).toMatchObject({ status: 'ended', ended_at: expiredAt.toISOString(), media_type: 'image' });
  });

  it('pages through items taken within one millisecond, and by item_pk at the same instant, without a gap or a repeat', async () => {
    const profile = await insertProfile(api.db.sql, 'busy.poster');
    const base = hoursFromNow(-2);
    for (let i = 0; i < 7; i++) {
      await insertStoryItem(api.db.sql, profile, { itemPk: `a${i}`, takenAt: base, expiringAt: hoursFromNow(22) });
    }
    // microseconds apart: a cursor in milliseconds could not tell these apart
    await api.db.sql`
      update story_items set taken_at = taken_at + (substr(item_pk, 2)::int % 3) * interval '1 microsecond'
      where profile_id = ${profile}`;
    const expected = await api.db.sql<{ item_pk: string }[]>`
      select item_pk from story_items where profile_id = ${profile} order by taken_at desc, item_pk desc`;
    const whole = await allPages(`/profiles/${profile}/stories`, 1000);
    expect(whole.map((i) => i.item_pk)).toEqual(expected.map((r) => r.item_pk));
    for (const limit of [1, 2, 3]) expect(await allPages(`/profiles/${profile}/stories`, limit)).toEqual(whole);
  });

  it('answers an empty page for a profile with no items, 404 for an unknown profile, 400 for a bad cursor', async () => {
    const profile = await insertProfile(api.db.sql, 'quiet');
    const empty = await api.call('GET', `/profiles/${profile}/stories`);
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ items: [], next_cursor: null });
    expectError(await api.call('GET', `/profiles/${UNKNOWN}/stories`), 404, 'not_found');
    expectError(await api.call('GET', '/profiles/not-a-uuid/stories'), 404, 'not_found');
    expectError(await api.call('GET', `/profiles/${profile}/stories?cursor=yesterday`), 400, 'validation_error');
    // a cursor past the last item of an unknown profile is still a 404, not an empty page
    expectError(await api.call('GET', `/profiles/${UNKNOWN}/stories?cursor=1767225600.000000_MQ`), 404, 'not_found');
  });
});

describe('GET /profiles/:id/checks', () => {
  it('lists the finished checks across batches newest first, with their batch, and leaves unfinished rows out', async () => {
    const profile = await insertProfile(api.db.sql, 'checked');
    const [first, second, third, unfinished] = await Promise.all(['first', null, 'third', 'waiting'].map((name) => insertDoneBatch(api.db.sql, name)));
    const firstCheckedAt = hoursFromNow(-48);
    await insertCheck(api.db.sql, { batchId: first!, profileId: profile, ordinal: 1, checkedAt: firstCheckedAt, hasStory: false, storyCount: 0 });
    await insertCheck(api.db.sql, {
      batchId: second!,
      profileId: profile,
      ordinal: 1,
      status: 'failed',
      checkedAt: hoursFromNow(-24),
      error: 'profile_not_found: no such user',
    });
    // answered from the cache: it keeps the original check's time
    await insertCheck(api.db.sql, { batchId: third!, profileId: profile, ordinal: 3, checkedAt: hoursFromNow(-1), source: 'cache', durationMs: null });
    await insertCheck(api.db.sql, { batchId: unfinished!, profileId: profile, ordinal: 1, status: 'pending', checkedAt: null });

    const res = await api.call('GET', `/profiles/${profile}/checks`);
    expect(res.status, res.text).toBe(200);
    const items = res.body.items as Array<Record<string, unknown>>;
    for (const item of items) expect(Object.keys(item).sort()).toEqual(fieldsOf(ProfileCheck));
    expect(items.map((i) => i.batch_id)).toEqual([third, second, first]);
    expect(items[0]).toMatchObject({ batch_name: 'third', status: 'completed', has_story: true, story_count: 1, source: 'cache', duration_ms: null, error: null });
    expect(items[1]).toMatchObject({ batch_name: null, status: 'failed', has_story: null, source: null, error: 'profile_not_found: no such user' });
    expect(items[2]).toMatchObject({ batch_name: 'first', status: 'completed', has_story: false, story_count: 0, source: 'upstream', duration_ms: 40 });
    expect(items[2]!.checked_at).toBe(firstCheckedAt.toISOString());
  });

  it('pages through checks made at one instant by batch_id, without a gap or a repeat', async () => {
    const profile = await insertProfile(api.db.sql, 'many.checks');
    const at = hoursFromNow(-3);
    for (let i = 0; i < 6; i++) {
      const batch = await insertDoneBatch(api.db.sql, `b${i}`);
      await insertCheck(api.db.sql, { batchId: batch, profileId: profile, ordinal: 1, checkedAt: at });
    }
    const whole = await allPages(`/profiles/${profile}/checks`, 1000);
    expect(whole).toHaveLength(6);
    expect(whole.map((c) => c.batch_id)).toEqual([...whole.map((c) => c.batch_id as string)].sort().reverse());
    for (const limit of [1, 4]) expect(await allPages(`/profiles/${profile}/checks`, limit)).toEqual(whole);
  });

  it('answers 404 for an unknown profile and 400 for a bad cursor', async () => {
    const profile = await insertProfile(api.db.sql, 'never.checked');
    expect((await api.call('GET', `/profiles/${profile}/checks`)).body).toEqual({ items: [], next_cursor: null });
    expectError(await api.call('GET', `/profiles/${UNKNOWN}/checks`), 404, 'not_found');
    expectError(await api.call('GET', `/profiles/${profile}/checks?cursor=1767225600.000000_nope`), 400, 'validation_error');
  });
});
