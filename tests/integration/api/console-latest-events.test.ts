/**
 * How the console's Events page finds the newest story events (src/console/app/latest-events.ts) through the
 * real `GET /events`, which pages forward only: the events it returns are exactly the newest that match, and the
 * seq it continues after is the newest of those, whatever the filter, however sparse its events.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { latestEvents, type LoadEvents } from '../../../src/console/app/latest-events.js';
import { startApiUnderTest } from '../../helpers/api.js';
import { batchFixtures } from './fixtures.js';

const api = startApiUnderTest({ temporal: false });
afterAll(() => api.expectNoSecrets());
const { addProfiles } = batchFixtures(api);

let busy: string;
let rare: string;
let nicheId: string;
let emptyNicheId: string;

beforeEach(async () => {
  const niche = await api.call('POST', '/niches', { name: 'rare' });
  const empty = await api.call('POST', '/niches', { name: 'empty' });
  nicheId = niche.body.id;
  emptyNicheId = empty.body.id;
  busy = (await addProfiles(['latest_busy']))[0]!;
  rare = (await addProfiles(['latest_rare'], nicheId))[0]!;
});

/** `count` events, one in every `rareEvery` of the rare profile's (in the niche), the others the busy one's. */
async function insertEvents(count: number, rareEvery: number): Promise<void> {
  await api.db.sql`
    insert into story_events (type, profile_id, item_pk, occurred_at)
    select 'story.posted', case when i % ${rareEvery} = 0 then ${rare}::uuid else ${busy}::uuid end, 'item-' || i, now()
    from generate_series(1, ${count}) as i`;
}

/** The newest `want` seqs matching, straight from the table. */
async function newestSeqs(want: number, profileId?: string): Promise<number[]> {
  const rows = await api.db.sql<{ seq: string }[]>`
    select seq from story_events ${profileId ? api.db.sql`where profile_id = ${profileId}` : api.db.sql``}
    order by seq desc limit ${want}`;
  return rows.map((r) => Number(r.seq)).reverse();
}

function loader(filters: Record<string, string> = {}): LoadEvents {
  return async (after, limit) => {
    const res = await api.call('GET', `/events?${new URLSearchParams({ ...filters, after: String(after), limit: String(limit) })}`);
    expect(res.status, res.text).toBe(200);
    return res.body;
  };
}

describe('the newest story events, read forward only', () => {
  it('are the newest that match, in seq order, with the seq to continue after', async () => {
    await insertEvents(3000, 100);
    const all = await latestEvents(loader(), 50);
    const expected = await newestSeqs(50);
    expect(all.items.map((e) => e.seq)).toEqual(expected);
    expect(all.after).toBe(expected.at(-1));

    const rareOnes = await latestEvents(loader({ niche_id: nicheId }), 20);
    const expectedRare = await newestSeqs(20, rare);
    expect(rareOnes.items.map((e) => e.seq)).toEqual(expectedRare);
    expect(rareOnes.items.every((e) => e.profile_id === rare)).toBe(true);
    expect(rareOnes.after).toBe(expectedRare.at(-1));
  });

  it('are all there are when fewer match than wanted, and none with nothing to continue after when none does', async () => {
    await insertEvents(40, 7);
    const few = await latestEvents(loader({ niche_id: nicheId }), 50);
    expect(few.items.map((e) => e.seq)).toEqual(await newestSeqs(50, rare));
    expect(few.items).toHaveLength(5);

    expect(await latestEvents(loader({ niche_id: emptyNicheId }), 50)).toEqual({ items: [], after: 0 });
  });
});
