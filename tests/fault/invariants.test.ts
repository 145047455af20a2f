/**
 * The exactly-once check used after every fault must itself be able to fail: a finished batch written
 * directly in SQL passes it, and each kind of corruption a fault could cause (a check counted twice, a result
 * lost, a log duplicated or missing, counters that disagree with the rows, a story posted twice or never, ended
 * out of order) makes it fail.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectExactlyOnce } from '../helpers/invariants.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const N = 4;
let db: TestDatabase;
let batchId: string;
let profileIds: string[];
let usernames: string[];

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

/** A done batch of N profiles, each checked once (the first one with a story), exactly as it should be. */
beforeEach(async () => {
  const sql = db.sql;
  const tag = Math.random().toString(36).slice(2, 7);
  usernames = Array.from({ length: N }, (_, i) => `inv_${tag}_${i}`);
  const profiles = await sql<{ id: string }[]>`
    insert into profiles (username, total_checks, total_detections)
    select u, 1, case when ord = 1 then 1 else 0 end from unnest(${usernames}::text[]) with ordinality as t(u, ord)
    returning id`;
  profileIds = profiles.map((p) => p.id);
  const [batch] = await sql<{ id: string }[]>`
    insert into batches (status, total_profiles, successful_checks, stories_found)
    values ('done', ${N}, ${N}, 1) returning id`;
  batchId = batch!.id;
  await sql`
    insert into batch_profiles (batch_id, profile_id, ordinal, status, has_story, story_count)
    select ${batchId}, p, ord, 'completed', ord = 1, case when ord = 1 then 1 else 0 end
    from unnest(${profileIds}::uuid[]) with ordinality as t(p, ord)`;
  await sql`
    insert into batch_logs (batch_id, profile_id, level, event_type, message)
    select ${batchId}, p, 'INFO', 'STORY_CHECK_SUCCESS', 'checked' from unnest(${profileIds}::uuid[]) as t(p)`;
  // the first profile's story: item 'a' posted and ended, item 'b' posted and live
  await sql`
    insert into story_items (profile_id, item_pk, taken_at, expiring_at, first_seen_at, last_seen_at, ended_at)
    values (${profileIds[0]!}, 'a', now() - interval '30 h', now() - interval '6 h', now() - interval '29 h', now() - interval '7 h', now() - interval '6 h'),
           (${profileIds[0]!}, 'b', now() - interval '1 h', now() + interval '23 h', now(), now(), null)`;
  await sql`insert into story_events (type, profile_id, item_pk, occurred_at) values ('story.posted', ${profileIds[0]!}, 'a', now())`;
  await sql`insert into story_events (type, profile_id, item_pk, occurred_at) values ('story.posted', ${profileIds[0]!}, 'b', now())`;
  await sql`insert into story_events (type, profile_id, item_pk, occurred_at) values ('story.ended', ${profileIds[0]!}, 'a', now())`;
});

const fails = async () => expect(expectExactlyOnce(db.sql, batchId, N)).rejects.toThrow();

it('passes on a batch where every profile was checked exactly once', async () => {
  await expect(expectExactlyOnce(db.sql, batchId, N)).resolves.toMatchObject({ status: 'done', completed_profiles: N });
});

it('passes with the expected profiles failed, each with one CHECK_FAILED log and no check counted', async () => {
  const failed = profileIds[3]!;
  await db.sql`update batch_profiles set status = 'failed', has_story = null, story_count = null, error = 'poison' where profile_id = ${failed}`;
  await db.sql`update profiles set total_checks = 0 where id = ${failed}`;
  await db.sql`update batches set successful_checks = ${N - 1}, failed_checks = 1 where id = ${batchId}`;
  await db.sql`
    update batch_logs set level = 'ERROR', event_type = 'CHECK_FAILED', message = 'check failed' where profile_id = ${failed}`;
  await expect(expectExactlyOnce(db.sql, batchId, N, { failedUsernames: [usernames[3]!] })).resolves.toMatchObject({
    successful_checks: N - 1,
    failed_checks: 1,
    completed_profiles: N,
  });
  await expect(expectExactlyOnce(db.sql, batchId, N)).rejects.toThrow();
});

describe('fails when', () => {
  it('a profile was counted twice (total_checks 2 after one check)', async () => {
    await db.sql`update profiles set total_checks = 2 where id = ${profileIds[1]!}`;
    await fails();
  });

  it('a success was logged twice', async () => {
    await db.sql`
      insert into batch_logs (batch_id, profile_id, level, event_type, message)
      values (${batchId}, ${profileIds[2]!}, 'INFO', 'STORY_CHECK_SUCCESS', 'checked again')`;
    await fails();
  });

  it('a success log is missing', async () => {
    await db.sql`delete from batch_logs where profile_id = ${profileIds[0]!}`;
    await fails();
  });

  it('a result was lost (a row still pending, the batch done anyway)', async () => {
    await db.sql`update batch_profiles set status = 'pending', has_story = null where profile_id = ${profileIds[3]!}`;
    await fails();
  });

  it('the batch counters disagree with the rows', async () => {
    await db.sql`update batches set successful_checks = ${N - 1}, failed_checks = 1 where id = ${batchId}`;
    await fails();
  });

  it('stories_found disagrees with the rows', async () => {
    await db.sql`update batches set stories_found = 2 where id = ${batchId}`;
    await fails();
  });

  it('a profile failed that was expected to succeed, or the other way round', async () => {
    await expect(expectExactlyOnce(db.sql, batchId, N, { failedUsernames: [usernames[0]!] })).rejects.toThrow();
  });

  it('a remembered item was never posted', async () => {
    await db.sql`delete from story_events where item_pk = 'b' and type = 'story.posted'`;
    await fails();
  });

  it('an item ended without its story.ended event, or the other way round', async () => {
    await db.sql`update story_items set ended_at = now() where item_pk = 'b'`;
    await fails();
  });

  it('an item was ended before it was posted', async () => {
    // posted again after its ended event: the posted seq is now the higher one
    await db.sql`delete from story_events where item_pk = 'a' and type = 'story.posted'`;
    await db.sql`
      insert into story_events (type, profile_id, item_pk, occurred_at) values ('story.posted', ${profileIds[0]!}, 'a', now())`;
    await fails();
  });

  it('an event names an item that is not remembered', async () => {
    await db.sql`insert into story_events (type, profile_id, item_pk, occurred_at) values ('story.posted', ${profileIds[1]!}, 'ghost', now())`;
    await fails();
  });

  it('the batch is not done', async () => {
    await db.sql`update batches set status = 'error' where id = ${batchId}`;
    await fails();
  });
});
