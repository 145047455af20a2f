/**
 * Stories remembered through the real checker, pool, proxy and simulator (no Temporal: the checker is plain
 * code): three batches over one niche while the simulator's profiles post and their stories expire give exactly
 * one story.posted per item, a story.ended after it once the item is gone, and a profile's items as the source
 * listed them.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checkChunkUntilDone } from '../../src/check/until-done.js';
import { nextChunks } from '../../src/repos/batch-profiles.js';
import { createNiche } from '../../src/repos/niches.js';
import { upsertProfiles } from '../../src/repos/profiles.js';
import { claimNextBatch, completeBatch, createBatch } from '../../src/repos/queue.js';
import { startStack, usernames, type Stack } from '../helpers/stack.js';
import { setTimeout as sleep } from 'node:timers/promises';

// a story lives 4 s and each posting lane posts every 2 s: between two batches stories appear and end
const TTL_S = 4;
const POST_EVERY_S = 2;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ proxies: 2, sim: { storyTtlS: TTL_S, storyPostEveryS: POST_EVERY_S, storyRate: 0.6 } });
});
afterAll(async () => {
  await stack?.close();
});

/** A batch over the niche's profiles (read when it is created), checked to the end; its id. */
async function runNicheBatch(nicheId: string): Promise<string> {
  const ids = await stack.db.sql<{ id: string }[]>`select id from profiles where niche_id = ${nicheId} order by username`;
  await createBatch(stack.db.sql, { profileIds: ids.map((r) => r.id) });
  const batch = await claimNextBatch(stack.db.sql);
  if (!batch) throw new Error('no batch claimed');
  const { chunks } = await nextChunks(stack.db.sql, batch.id, 0, 50, 10);
  await Promise.all(
    chunks.map((chunk, n) =>
      checkChunkUntilDone(stack.deps.checker, { batchId: batch.id, profileIds: chunk.profileIds }, {
        holder: (attempt) => `stories-${n}#${attempt}`,
        backoffMs: () => 100,
        retries: 20,
      }),
    ),
  );
  expect((await completeBatch(stack.db.sql, batch.id)).status).toBe('done');
  return batch.id;
}

it('three batches over a niche while stories come and go: one story.posted per item, story.ended after it', async () => {
  const niche = await createNiche(stack.db.sql, `stories-${Date.now()}`);
  const names = usernames(60, 'remembered');
  const { items: profiles } = await upsertProfiles(stack.db.sql, names, niche.id);
  const ids = profiles.map((p) => p.id);

  const batches: string[] = [];
  for (let round = 0; round < 3; round++) {
    // the source's own time has to pass for its stories to change
    if (round > 0) await sleep(TTL_S * 1000 * 0.6);
    batches.push(await runNicheBatch(niche.id));
  }

  const items = await stack.db.sql<{ profile_id: string; item_pk: string; ended_at: Date | null; first_seen_batch_id: string }[]>`
    select profile_id, item_pk, ended_at, first_seen_batch_id from story_items where profile_id = any(${ids}::uuid[])`;
  const events = await stack.db.sql<{ seq: string; type: string; profile_id: string; item_pk: string }[]>`
    select seq, type, profile_id, item_pk from story_events where profile_id = any(${ids}::uuid[]) order by seq`;
  for (const item of items) {
    const mine = events.filter((e) => e.profile_id === item.profile_id && e.item_pk === item.item_pk).map((e) => e.type);
    expect(mine).toEqual(item.ended_at ? ['story.posted', 'story.ended'] : ['story.posted']);
  }
  expect(events).toHaveLength(items.length + items.filter((i) => i.ended_at).length);

  // the source really changed under the batches: later batches saw new items, and some ended
  const firstSeenBy = (batchId: string) => items.filter((i) => i.first_seen_batch_id === batchId).length;
  expect(firstSeenBy(batches[0]!)).toBeGreaterThan(0);
  expect(firstSeenBy(batches[1]!) + firstSeenBy(batches[2]!)).toBeGreaterThan(0);
  expect(items.filter((i) => i.ended_at).length).toBeGreaterThan(0);

  // what the last batch found live is exactly what is remembered live
  const live = await stack.db.sql<{ profile_id: string; n: number }[]>`
    select profile_id, count(*)::int as n from story_items
    where profile_id = any(${ids}::uuid[]) and ended_at is null group by profile_id`;
  const counts = await stack.db.sql<{ profile_id: string; story_count: number }[]>`
    select profile_id, story_count from batch_profiles where batch_id = ${batches[2]!} and story_count > 0`;
  expect(new Map(live.map((r) => [r.profile_id, r.n]))).toEqual(new Map(counts.map((r) => [r.profile_id, r.story_count])));
}, 120_000);
