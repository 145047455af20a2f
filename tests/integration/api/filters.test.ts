/**
 * The list filters a dashboard searches with: profiles by part of their username (with the niche and story
 * filters, across pages) and a batch's profiles by result (with the status filter, across pages). Batches are
 * created held and their results written as the checker writes them, so no Temporal server is started.
 */
import { describe, expect, it } from 'vitest';
import { expectError, startApiUnderTest, type Res } from '../../helpers/api.js';
import { batchFixtures } from './fixtures.js';

const api = startApiUnderTest({ temporal: false });
const call = api.call.bind(api);
const { addProfiles, newBatch, markChecked } = batchFixtures(api);

/** Every item of a list, one page of `limit` at a time, checking each page's size on the way. */
async function walk(path: string, limit: number): Promise<{ items: Array<Record<string, unknown>>; pages: number }> {
  const items: Array<Record<string, unknown>> = [];
  let pages = 0;
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page: Res = await call('GET', `${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(page.status, page.text).toBe(200);
    expect(page.body.items.length).toBeLessThanOrEqual(limit);
    items.push(...page.body.items);
    cursor = page.body.next_cursor;
    pages++;
  } while (cursor);
  return { items, pages };
}

const usernames = (items: Array<Record<string, unknown>>) => items.map((p) => p.username as string).sort();

describe('GET /profiles?username=', () => {
  it('finds the profiles whose username contains the text, in any case, with a leading "@" and spaces dropped', async () => {
    await addProfiles(['ann_a', 'anna', 'annxa', 'bob.ann', 'carol', 'dan']);
    const find = async (q: string) => {
      const res = await call('GET', `/profiles?username=${encodeURIComponent(q)}`);
      expect(res.status, res.text).toBe(200);
      return usernames(res.body.items);
    };
    expect(await find('ann')).toEqual(['ann_a', 'anna', 'annxa', 'bob.ann']);
    expect(await find('ANN')).toEqual(['ann_a', 'anna', 'annxa', 'bob.ann']);
    expect(await find('  @Ann ')).toEqual(['ann_a', 'anna', 'annxa', 'bob.ann']);
    // "_" is a literal underscore, not LIKE's any-character: annxa does not match
    expect(await find('n_a')).toEqual(['ann_a']);
    expect(await find('_')).toEqual(['ann_a']);
    expect(await find('.')).toEqual(['bob.ann']);
    expect(await find('carol')).toEqual(['carol']);
    expect(await find('zed')).toEqual([]);
  });

  it('combines with niche_id and active_story, and pages through the matches only', async () => {
    const niche = (await call('POST', '/niches', { name: 'coffee' })).body;
    const inNiche = await addProfiles(['brew_1', 'brew_2', 'brew_3', 'brew_4', 'latte_1'], niche.id);
    await addProfiles(['brew_5', 'brew_6', 'mocha']);
    // brew_1, brew_3 (in the niche) and brew_5 (outside it) have a story; so has latte_1, which is no brew
    await api.db.sql`
      update profiles set active_story = true
      where username in ('brew_1', 'brew_3', 'brew_5', 'latte_1')`;
    expect(inNiche).toHaveLength(5);

    const all = await walk('/profiles?username=brew', 2);
    expect(usernames(all.items)).toEqual(['brew_1', 'brew_2', 'brew_3', 'brew_4', 'brew_5', 'brew_6']);
    expect(all.pages).toBe(3);

    const oneByOne = await walk('/profiles?username=brew', 1);
    expect(usernames(oneByOne.items)).toEqual(usernames(all.items));
    // ids ascend across pages, as without a filter
    const ids = oneByOne.items.map((p) => p.id as string);
    expect(ids).toEqual([...ids].sort());

    expect(usernames((await walk(`/profiles?username=brew&niche_id=${niche.id}`, 1)).items)).toEqual([
      'brew_1',
      'brew_2',
      'brew_3',
      'brew_4',
    ]);
    expect(usernames((await walk('/profiles?username=brew&active_story=true', 1)).items)).toEqual(['brew_1', 'brew_3', 'brew_5']);
    expect(usernames((await walk(`/profiles?username=brew&niche_id=${niche.id}&active_story=true`, 1)).items)).toEqual([
      'brew_1',
      'brew_3',
    ]);
    expect(usernames((await walk(`/profiles?username=brew&niche_id=${niche.id}&active_story=false`, 1)).items)).toEqual([
      'brew_2',
      'brew_4',
    ]);
    expect(usernames((await walk('/profiles?username=latte&active_story=false', 1)).items)).toEqual([]);
  });

  it('answers 400 validation_error for text that cannot be part of a username', async () => {
    await addProfiles(['some_user']);
    for (const bad of ['', ' ', '@', 'a%b', '%', 'a\\b', 'some user', 'é', 'x'.repeat(31), '@@some', 'some*']) {
      const res = await call('GET', `/profiles?username=${encodeURIComponent(bad)}`);
      expectError(res, 400, 'validation_error');
    }
    expect((await call('GET', `/profiles?username=${'x'.repeat(30)}`)).status).toBe(200);
  });
});

describe('GET /batches/:id/profiles?has_story=', () => {
  it('keeps the completed profiles by result, combined with status, in batch order across pages', async () => {
    const ids = await addProfiles(['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
    const batch = await newBatch({ name: 'results', profile_ids: ids, hold: true });
    expect(batch.status).toBe('paused');
    await markChecked(batch.id, [
      { profileId: ids[0]!, hasStory: true },
      { profileId: ids[1]!, hasStory: false },
      { profileId: ids[2]!, hasStory: true },
      { profileId: ids[3]!, hasStory: false },
      { profileId: ids[5]!, hasStory: true },
    ]);
    await api.db.sql`
      update batch_profiles set status = 'failed', error = 'upstream_error: gone', attempts = 3
      where batch_id = ${batch.id} and profile_id = ${ids[4]!}`;
    const path = `/batches/${batch.id}/profiles`;
    const names = (items: Array<Record<string, unknown>>) => items.map((p) => p.username);

    const withStory = await walk(`${path}?has_story=true`, 1);
    expect(names(withStory.items)).toEqual(['p1', 'p3', 'p6']);
    expect(withStory.items.every((p) => p.has_story === true && p.status === 'completed')).toBe(true);
    expect(withStory.pages).toBe(3);
    const withoutStory = await walk(`${path}?has_story=false`, 1);
    expect(names(withoutStory.items)).toEqual(['p2', 'p4']);
    expect(withoutStory.items.every((p) => p.has_story === false)).toBe(true);
    expect(names((await walk(`${path}?has_story=true`, 2)).items)).toEqual(['p1', 'p3', 'p6']);

    // with status: only completed profiles have a result
    expect(names((await walk(`${path}?status=completed&has_story=true`, 1)).items)).toEqual(['p1', 'p3', 'p6']);
    expect(names((await walk(`${path}?status=completed&has_story=false`, 5)).items)).toEqual(['p2', 'p4']);
    expect(names((await walk(`${path}?status=failed&has_story=false`, 5)).items)).toEqual([]);
    expect(names((await walk(`${path}?status=pending&has_story=true`, 5)).items)).toEqual([]);
    expect(names((await walk(`${path}?status=pending`, 5)).items)).toEqual(['p7']);
    // no filter: all seven, in batch order
    expect(names((await walk(path, 3)).items)).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
  });

  it('answers 400 validation_error for a has_story other than true or false', async () => {
    const ids = await addProfiles(['q1']);
    const batch = await newBatch({ profile_ids: ids, hold: true });
    for (const bad of ['yes', '1', 'TRUE', '', 'null']) {
      const res = await call('GET', `/batches/${batch.id}/profiles?has_story=${encodeURIComponent(bad)}`);
      expectError(res, 400, 'validation_error');
      expect(res.body.error.message).toContain('has_story');
    }
    expectError(await call('GET', '/batches/00000000-0000-4000-8000-000000000000/profiles?has_story=true'), 404, 'not_found');
  });
});
