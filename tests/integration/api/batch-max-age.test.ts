/**
 * max_age_s through the API: stored on the batch and shown on it, CHECK_MAX_AGE_S when not given, refused
 * with a 400 naming the field when it is not a whole number of seconds in range; batch profiles show `source`,
 * null until completed. Held batches only, so no Temporal is needed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_AGE_S } from '../../../src/enums.js';
import { expectError, startApiUnderTest } from '../../helpers/api.js';
import { batchFixtures } from './fixtures.js';

const api = startApiUnderTest({ temporal: false, env: { CHECK_MAX_AGE_S: '600' } });
const call = api.call.bind(api);
afterAll(() => api.expectNoSecrets());
const { addProfiles, newBatch } = batchFixtures(api);

describe('max_age_s', () => {
  it('is stored and shown on the batch, CHECK_MAX_AGE_S when not given', async () => {
    const ids = await addProfiles(['age_a', 'age_b']);
    const byDefault = await newBatch({ profile_ids: ids, hold: true });
    expect(byDefault).toMatchObject({ max_age_s: 600 });
    const given = await newBatch({ profile_ids: ids, hold: true, max_age_s: 86_400 });
    expect(given).toMatchObject({ max_age_s: 86_400 });
    const off = await newBatch({ profile_ids: ids, hold: true, max_age_s: 0 });
    expect((await call('GET', `/batches/${off.id}`)).body).toMatchObject({ max_age_s: 0 });
    const [queued] = await api.db.sql<{ details: Record<string, unknown> }[]>`
      select details from batch_logs where batch_id = ${given.id} and event_type = 'BATCH_QUEUED'`;
    expect(queued!.details).toMatchObject({ max_age_s: 86_400 });

    const profiles = (await call('GET', `/batches/${given.id}/profiles`)).body.items;
    expect(profiles.map((p: { source: string | null }) => p.source)).toEqual([null, null]);
  });

  it.each([[-1], [1.5], ['3600'], [MAX_AGE_S + 1], [null]])('refuses max_age_s %j with a 400 naming it', async (value) => {
    const res = await call('POST', '/batches', { usernames: ['age_c'], hold: true, max_age_s: value });
    expectError(res, 400, 'validation_error');
    expect(res.body.error.details.issues.map((i: { path: string }) => i.path)).toEqual(['max_age_s']);
    expect(res.body.error.message).toMatch(/max_age_s/);
  });

  it('accepts the largest max_age_s', async () => {
    expect(await newBatch({ usernames: ['age_d'], hold: true, max_age_s: MAX_AGE_S })).toMatchObject({ max_age_s: MAX_AGE_S });
  });
});
