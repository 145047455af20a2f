/**
 * Recent results through the real checker, pool, proxy and simulator (no Temporal: the checker is plain code).
 * A batch with max_age_s answers each profile whose latest upstream check is younger than that from it, with
 * no request: the row says `source: "cache"` with the original checked_at, the batch counters count it, the
 * profile's statistics do not, and one RESULTS_FROM_CACHE entry per chunk says how many. Older results, never
 * checked profiles and batches with max_age_s 0 go upstream; a cached answer is never a source itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckChunkResult } from '../../src/check/checker.js';
import { checkChunkUntilDone } from '../../src/check/until-done.js';
import { nextChunks } from '../../src/repos/batch-profiles.js';
import { completeBatch, claimNextBatch } from '../../src/repos/queue.js';
import { answerFromCache } from '../../src/repos/result-cache.js';
import { batchCounters, eventCounts, makeBatch, startStack, usernames, type Stack } from '../helpers/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ proxies: 1 });
});
afterAll(async () => {
  await stack?.close();
});

interface Row {
  username: string;
  status: string;
  source: string | null;
  has_story: boolean | null;
  story_count: number | null;
  checked_at: Date | null;
  proxy_id: string | null;
}

/** Creates a batch over `names`, claims it and checks every chunk to the end, then completes it. */
async function runBatch(names: string[], maxAgeS?: number): Promise<{ id: string; result: CheckChunkResult; requests: number }> {
  await makeBatch(stack, names, maxAgeS === undefined ? {} : { maxAgeS });
  const batch = await claimNextBatch(stack.db.sql);
  if (!batch) throw new Error('no batch claimed');
  const before = stack.sim.stats.requests;
  const { chunks } = await nextChunks(stack.db.sql, batch.id, 0, 50, 10);
  expect(chunks).toHaveLength(1);
  const result = await checkChunkUntilDone(stack.deps.checker, { batchId: batch.id, profileIds: chunks[0]!.profileIds }, {
    holder: (attempt) => `cache-test#${attempt}`,
    backoffMs: () => 100,
    retries: 20,
  });
  expect((await completeBatch(stack.db.sql, batch.id)).status).toBe('done');
  return { id: batch.id, result, requests: stack.sim.stats.requests - before };
}

async function rows(batchId: string): Promise<Map<string, Row>> {
  const list = await stack.db.sql<Row[]>`
    select p.username, bp.status, bp.source, bp.has_story, bp.story_count, bp.checked_at, bp.proxy_id
    from batch_profiles bp join profiles p on p.id = bp.profile_id
    where bp.batch_id = ${batchId} order by bp.ordinal`;
  return new Map(list.map((r) => [r.username, r]));
}

async function profileStats(names: string[]) {
  return stack.db.sql<{ username: string; total_checks: number; total_detections: number; last_checked_at: Date | null }[]>`
    select username, total_checks, total_detections, last_checked_at from profiles
    where username = any(${names}) order by username`;
}

async function logsOf(batchId: string, eventType: string) {
  return stack.db.sql<{ level: string; profile_id: string | null; details: Record<string, unknown> }[]>`
    select level, profile_id, details from batch_logs where batch_id = ${batchId} and event_type = ${eventType} order by seq`;
}

/** Makes a profile's upstream results look `hours` old. */
async function age(name: string, hours: number, batchId?: string) {
  await stack.db.sql`
    update batch_profiles set checked_at = now() - ${hours}::int * interval '1 hour'
    where profile_id = (select id from profiles where username = ${name}) and source = 'upstream'
      ${batchId ? stack.db.sql`and batch_id = ${batchId}` : stack.db.sql``}`;
}

describe('recent results (max_age_s)', () => {
  const names = usernames(5, 'cached');
  const [fresh1, fresh2, fresh3, stale, never] = names as [string, string, string, string, string];
  let first: Awaited<ReturnType<typeof runBatch>>;
  let firstRows: Map<string, Row>;

  beforeAll(async () => {
    // max_age_s defaults to CHECK_MAX_AGE_S, 0 here: everything goes upstream
    first = await runBatch([fresh1, fresh2, fresh3, stale]);
    firstRows = await rows(first.id);
    await age(stale, 2);
  });

  it('answers recently checked profiles from their last upstream result, with no request for them', async () => {
    expect(first.result).toMatchObject({ kind: 'done', successful: 4 });
    expect([...firstRows.values()].map((r) => r.source)).toEqual(['upstream', 'upstream', 'upstream', 'upstream']);
    const statsBefore = await profileStats(names);
    const askedBefore = { ...stack.sim.stats.userIdsAsked };

    const second = await runBatch([fresh1, fresh2, fresh3, stale, never], 3600);

    // the stale one is asked (its user id is known: one stories request), the new one looked up and asked
    expect(second.requests).toBe(2);
    const userIdOf = (name: string) => stack.sim.simulator.population.userIdOf(name);
    for (const name of [fresh1, fresh2, fresh3]) {
      expect(stack.sim.stats.userIdsAsked[userIdOf(name)], name).toBe(askedBefore[userIdOf(name)]);
    }
    const secondRows = await rows(second.id);
    for (const name of [fresh1, fresh2, fresh3]) {
      const was = firstRows.get(name)!;
      expect(secondRows.get(name), name).toEqual({
        username: name,
        status: 'completed',
        source: 'cache',
        has_story: was.has_story,
        story_count: was.story_count,
        checked_at: was.checked_at, // the original check, not now
        proxy_id: null,
      });
    }
    for (const name of [stale, never]) {
      expect(secondRows.get(name), name).toMatchObject({ status: 'completed', source: 'upstream', proxy_id: expect.any(String) });
      expect(secondRows.get(name)!.checked_at!.getTime()).toBeGreaterThan(firstRows.get(fresh1)!.checked_at!.getTime());
    }

    // the batch counts every result once; the chunk's totals match it
    const withStory = [...secondRows.values()].filter((r) => r.has_story).length;
    expect(await batchCounters(stack, second.id)).toMatchObject({ status: 'done', total_profiles: 5, successful_checks: 5, failed_checks: 0, stories_found: withStory });
    expect(second.result).toEqual({ kind: 'done', successful: 5, failed: 0, storiesFound: withStory, requests: 2 });

    // the profiles' statistics count only the checks made upstream
    const statsAfter = new Map((await profileStats(names)).map((s) => [s.username, s]));
    for (const before of statsBefore) {
      const after = statsAfter.get(before.username)!;
      if (before.username === stale) {
        expect(after.total_checks).toBe(before.total_checks + 1);
      } else {
        expect(after, before.username).toEqual(before);
      }
    }
    expect(statsAfter.get(never)!.total_checks).toBe(1);

    // one log entry for the chunk's cached answers, per-profile success logs for the upstream ones only
    expect(await logsOf(second.id, 'RESULTS_FROM_CACHE')).toEqual([{ level: 'INFO', profile_id: null, details: { profiles: 3, max_age_s: 3600 } }]);
    const events = await eventCounts(stack, second.id);
    expect(events.STORY_CHECK_SUCCESS).toBe(2);
    const [completed] = await logsOf(second.id, 'BATCH_COMPLETED');
    expect(completed!.details).toMatchObject({ successful_checks: 5, stories_found: withStory, from_cache: 3 });
  });

  it('sends nothing at all when every profile is answered from the cache, and answers each once', async () => {
    const leasesBefore = await stack.db.sql<{ n: number }[]>`select coalesce(sum(success_count + failure_count), 0)::int as n from proxies`;
    const third = await runBatch([fresh1, fresh2], 3600);
    expect(third.requests).toBe(0);
    expect(third.result).toMatchObject({ kind: 'done', successful: 2, failed: 0, requests: 0 });
    expect(await stack.db.sql`select coalesce(sum(success_count + failure_count), 0)::int as n from proxies`).toEqual(leasesBefore);
    expect([...(await rows(third.id)).values()].map((r) => r.source)).toEqual(['cache', 'cache']);
    expect((await batchCounters(stack, third.id)).successful_checks).toBe(2);

    // answering again changes and counts nothing: only unfinished rows are answered
    const ids = await stack.db.sql<{ profile_id: string }[]>`select profile_id from batch_profiles where batch_id = ${third.id}`;
    const again = await answerFromCache(stack.db.sql, third.id, ids.map((r) => r.profile_id), 3600);
    expect(again.answered.size).toBe(0);
    expect((await batchCounters(stack, third.id)).successful_checks).toBe(2);
    expect(await logsOf(third.id, 'RESULTS_FROM_CACHE')).toHaveLength(1);
  });

  it('never reuses a cached answer: only an upstream result younger than max_age_s counts', async () => {
    // fresh3's only upstream result is now two hours old; its cached copies still carry a recent checked_at
    await age(fresh3, 2);
    const fourth = await runBatch([fresh3], 3600);
    expect(fourth.requests).toBe(1);
    expect((await rows(fourth.id)).get(fresh3)).toMatchObject({ source: 'upstream' });
    expect(await logsOf(fourth.id, 'RESULTS_FROM_CACHE')).toEqual([]);
  });

  it('max_age_s 0 always asks the upstream', async () => {
    const fifth = await runBatch([fresh1, never], 0);
    expect(fifth.requests).toBe(1);
    expect([...(await rows(fifth.id)).values()].map((r) => r.source)).toEqual(['upstream', 'upstream']);
    expect(await logsOf(fifth.id, 'RESULTS_FROM_CACHE')).toEqual([]);
    const [completed] = await logsOf(fifth.id, 'BATCH_COMPLETED');
    expect(completed!.details).toMatchObject({ from_cache: 0 });
  });
});
