/**
 * A batch from a whole niche holds at most MAX_BATCH_PROFILES profiles, as one from profile ids or usernames
 * does: a larger niche is refused before anything is written, and the answer names the cap and the niche's size.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_PROFILES } from '../../../src/api/schemas.js';
import { expectError, startApiUnderTest } from '../../helpers/api.js';

const api = startApiUnderTest({ temporal: true });
const call = api.call.bind(api);
afterAll(() => api.expectNoSecrets());

async function newNiche(name: string): Promise<string> {
  const res = await call('POST', '/niches', { name });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

/** `count` profiles in the niche, in one statement (the API would take 10,000 a request). */
async function fillNiche(nicheId: string, count: number, prefix: string): Promise<void> {
  await api.db.sql`
    insert into profiles (username, niche_id)
    select ${prefix} || g, ${nicheId}::uuid from generate_series(1, ${count}::int) g`;
}

const batchCount = async () => (await api.db.sql<{ n: number }[]>`select count(*)::int as n from batches`)[0]!.n;

describe('a batch from a niche', () => {
  it('is refused, naming the cap and the niche size, when the niche holds more profiles than a batch may', async () => {
    const nicheId = await newNiche('crowded');
    await fillNiche(nicheId, MAX_BATCH_PROFILES + 1, 'crowd_');

    for (const body of [{ niche_id: nicheId }, { niche_id: nicheId, hold: true, name: 'held' }]) {
      const res = await call('POST', '/batches', body);
      expectError(res, 400, 'validation_error');
      expect(res.body.error.message).toContain(`at most ${MAX_BATCH_PROFILES}`);
      expect(res.body.error.message).toContain(String(MAX_BATCH_PROFILES + 1));
      expect(res.body.error.details).toEqual({
        niche_id: nicheId,
        niche_profiles: MAX_BATCH_PROFILES + 1,
        max_batch_profiles: MAX_BATCH_PROFILES,
      });
    }
    expect(await batchCount()).toBe(0);
  });

  it('takes every profile of a niche that holds exactly as many as a batch may', async () => {
    const nicheId = await newNiche('full');
    await fillNiche(nicheId, MAX_BATCH_PROFILES, 'full_');
    const res = await call('POST', '/batches', { niche_id: nicheId, hold: true });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ status: 'paused', total_profiles: MAX_BATCH_PROFILES });
  });
});
