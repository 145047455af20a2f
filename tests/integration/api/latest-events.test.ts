/**
 * `GET /events?latest=true` (what the console's Events page opens on): the newest story events that match, in seq
 * order, whatever the filter and however sparse its events, and a next_after from which a stream misses nothing.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
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
    select 'story.posted', case when i % ${rareEvery} = 0 then ${rare}::uuid else ${busy}::uuid end, gen_random_uuid()::text, now()
    from generate_series(1, ${count}) as i`;
}

/** The newest `want` seqs matching, straight from the table. */
async function newestSeqs(want: number, profileId?: string): Promise<number[]> {
  const rows = await api.db.sql<{ seq: string }[]>`
    select seq from story_events ${profileId ? api.db.sql`where profile_id = ${profileId}` : api.db.sql``}
    order by seq desc limit ${want}`;
  return rows.map((r) => Number(r.seq)).reverse();
}

async function latest(filters: Record<string, string>, limit: number) {
  const res = await api.call('GET', `/events?${new URLSearchParams({ ...filters, latest: 'true', limit: String(limit) })}`);
  expect(res.status, res.text).toBe(200);
  return res.body as { items: Array<{ seq: number; profile_id: string }>; next_after: number; has_more: boolean };
}

describe('the newest story events', () => {
  it('are the newest that match, in seq order, and next_after is the newest seq of all', async () => {
    await insertEvents(3000, 100);
    const head = (await newestSeqs(1))[0]!;
    const all = await latest({}, 50);
    expect(all.items.map((e) => e.seq)).toEqual(await newestSeqs(50));
    expect(all).toMatchObject({ next_after: head, has_more: false });

    const rareOnes = await latest({ niche_id: nicheId }, 20);
    expect(rareOnes.items.map((e) => e.seq)).toEqual(await newestSeqs(20, rare));
    expect(rareOnes.items.every((e) => e.profile_id === rare)).toBe(true);
    // the rare profile's newest event is older than the head: a stream from its seq would replay the busy one's
    expect(rareOnes.next_after).toBe(head);
  });

  it('are all there are when fewer match, and none (still with the head) when none does', async () => {
    await insertEvents(40, 7);
    const few = await latest({ niche_id: nicheId }, 50);
    expect(few.items.map((e) => e.seq)).toEqual(await newestSeqs(50, rare));
    expect(few.items).toHaveLength(5);

    const none = await latest({ niche_id: emptyNicheId }, 50);
    expect(none).toEqual({ items: [], next_after: (await newestSeqs(1))[0], has_more: false });
  });

  it('a stream opened after next_after gets the events committed since, and none before', async () => {
    await insertEvents(10, 2);
    const page = await latest({ niche_id: nicheId }, 3);
    await insertEvents(4, 2);
    const next = await api.call('GET', `/events?${new URLSearchParams({ niche_id: nicheId, after: String(page.next_after) })}`);
    expect(next.body.items.map((e: { seq: number }) => e.seq)).toEqual((await newestSeqs(7, rare)).slice(-2));
  });
});
