/**
 * A batch of 100,000 usernames through the API, created while another client keeps changing the queue: the
 * batch is whole and in the given order, and every transition of the other client succeeds meanwhile (no
 * error, no deadlock) with the queue's invariants holding throughout. How long either takes is measured by
 * the `scale_100k` benchmark scenario, not here.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_PROFILES } from '../../../src/api/schemas.js';
import { watchQueueInvariants } from '../../helpers/invariants.js';
import { startApiUnderTest, type Res } from '../../helpers/api.js';
import { batchFixtures } from './fixtures.js';

const api = startApiUnderTest({ temporal: true });
const call = api.call.bind(api);
afterAll(() => api.expectNoSecrets());
const { newBatch, queuedIds } = batchFixtures(api);

const COUNT = 100_000;

describe('a batch of 100,000 usernames', () => {
  it('is created whole and in order while another client changes the queue', async () => {
    expect(COUNT).toBe(MAX_BATCH_PROFILES);
    const names = Array.from({ length: COUNT }, (_, i) => `large_${String(i).padStart(6, '0')}`);
    // the given order is not the alphabetical one; spellings are normalised
    const given = [...names.slice(COUNT / 2), ...names.slice(0, COUNT / 2)];
    const body = { name: 'large', usernames: [`@${given[0]!.toUpperCase()}`, ...given.slice(1, -1), ` ${given.at(-1)!} `] };

    const other = await newBatch({ name: 'other', usernames: ['other_a', 'other_b'], hold: true });
    let creating = true;
    const answered: Array<{ what: string; res: Res }> = [];
    const transition = async (what: string, method: string, path: string) => answered.push({ what, res: await call(method, path) });
    const transitions = (async () => {
      let cycle = 0;
      do {
        await transition('pause queue', 'POST', '/queue/pause');
        await transition('resume queue', 'POST', '/queue/resume');
        await transition('resume batch', 'POST', `/batches/${other.id}/resume`);
        await transition('start batch', 'POST', `/batches/${other.id}/start`);
        await transition('pause batch', 'POST', `/batches/${other.id}/pause`);
        const spare = await newBatch({ name: `spare ${cycle++}`, usernames: ['spare_a'], hold: true });
        await transition('cancel batch', 'POST', `/batches/${spare.id}/cancel`);
      } while (creating);
    })();

    const create = call('POST', '/batches', body).finally(() => (creating = false));
    const watched = await watchQueueInvariants(api.db.sql, Promise.all([create, transitions]));
    const created = await create;

    expect(created.status, created.text.slice(0, 500)).toBe(201);
    expect(created.body).toMatchObject({ name: 'large', status: 'queued', total_profiles: COUNT });
    // behind the other batch when that one was queued or running at the moment the large one entered the queue
    expect([1, 2]).toContain(created.body.position);
    expect(watched.violations).toEqual([]);
    const failed = answered.filter(({ res }) => res.status !== 202).map(({ what, res }) => `${what}: ${res.status} ${res.text}`);
    expect(failed).toEqual([]);
    expect(answered.length).toBeGreaterThanOrEqual(6);

    // every profile once, in the given order
    const rows = await api.db.sql<{ username: string; ordinal: number }[]>`
      select p.username, bp.ordinal from batch_profiles bp join profiles p on p.id = bp.profile_id
      where bp.batch_id = ${created.body.id} order by bp.ordinal`;
    expect(rows.length).toBe(COUNT);
    expect(rows.map((r) => r.username)).toEqual(given);
    expect(rows.every((r, i) => r.ordinal === i + 1)).toBe(true);
    const page = await call('GET', `/batches/${created.body.id}/profiles?limit=2`);
    expect(page.body.items.map((p: { username: string }) => p.username)).toEqual(given.slice(0, 2));

    // the queue as the other client left it: the large batch queued alone, the other one paused
    expect(await queuedIds()).toEqual([created.body.id]);
    expect((await call('GET', `/batches/${other.id}`)).body).toMatchObject({ status: 'paused', position: null });
  });

  it('names the limit when there are more usernames than a batch holds', async () => {
    const names = Array.from({ length: COUNT + 1 }, (_, i) => `over_${i}`);
    const res = await call('POST', '/batches', { usernames: names });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain(`at most ${COUNT} usernames`);
  });
});
