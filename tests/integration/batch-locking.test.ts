/**
 * Lock order and transitions of batches and their profiles, against real Postgres: the checker's writes
 * racing the API's transitions never deadlock into an error, stopped batches show no profile as running,
 * and a large create does not hold up the queue.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transaction } from '../../src/db/sql.js';
import { addAttempt, markRunning, recordFailures, recordSuccesses } from '../../src/repos/batch-profiles.js';
import { cancelBatch, createBatch, failBatch, getQueue, pauseBatch, resumeBatch } from '../../src/repos/queue.js';
import { createProxy } from '../../src/repos/proxies.js';
import { newProfiles, runningBatch } from '../helpers/batches.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

let db: TestDatabase;
let proxyId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  proxyId = (await createProxy(db.sql, { url: 'http://127.0.0.1:9' })).id;
});

afterAll(async () => {
  await db?.drop();
});

const runningRows = async (batchId: string) =>
  (await db.sql<{ n: number }[]>`select count(*)::int as n from batch_profiles where batch_id = ${batchId} and status = 'running'`)[0]!.n;

const ctx = (batchId: string) => ({ batchId, proxyId: null, durationMs: 5, countAttempt: true });
const success = (profileId: string) => ({ profileId, hasStory: false, storyCount: 0, latestStoryAt: null });

describe('lock order', () => {
  it('a resume racing the checker writes of the same batch never fails with a deadlock', async () => {
    const errors: unknown[] = [];
    for (let round = 0; round < 25; round++) {
      const ids = await newProfiles(db.sql, 120, 'lk');
      const batch = await runningBatch(db.sql, ids);
      await markRunning(db.sql, batch.id, ids, proxyId);
      await pauseBatch(db.sql, batch.id);
      const reversed = [...ids].reverse();
      const settled = await Promise.allSettled([
        recordSuccesses(db.sql, ctx(batch.id), reversed.slice(0, 60).map(success)),
        resumeBatch(db.sql, batch.id),
        recordFailures(db.sql, ctx(batch.id), reversed.slice(60).map((profileId) => ({ profileId, errorType: 'X', message: 'x' }))),
        addAttempt(db.sql, batch.id, ids),
      ]);
      errors.push(...settled.filter((s) => s.status === 'rejected').map((s) => (s as PromiseRejectedResult).reason));
      await cancelBatch(db.sql, batch.id);
    }
    expect(errors.map((e) => (e as { code?: string }).code ?? String(e))).toEqual([]);
  });

  it('overlapping attempts of one chunk, writing the same rows in different orders, never deadlock', async () => {
    const errors: unknown[] = [];
    for (let round = 0; round < 25; round++) {
      const ids = await newProfiles(db.sql, 100, 'lk');
      const batch = await runningBatch(db.sql, ids);
      const reversed = [...ids].reverse();
      const settled = await Promise.allSettled([
        addAttempt(db.sql, batch.id, ids),
        addAttempt(db.sql, batch.id, reversed),
        recordSuccesses(db.sql, ctx(batch.id), ids.map(success)),
        recordSuccesses(db.sql, ctx(batch.id), reversed.map(success)),
        recordFailures(db.sql, ctx(batch.id), reversed.map((profileId) => ({ profileId, errorType: 'X', message: 'x' }))),
      ]);
      errors.push(...settled.filter((s) => s.status === 'rejected').map((s) => (s as PromiseRejectedResult).reason));
      // every profile was recorded exactly once, whichever attempt won it
      const [b] = await db.sql<{ done: number }[]>`select successful_checks + failed_checks as done from batches where id = ${batch.id}`;
      expect(b!.done).toBe(100);
      await cancelBatch(db.sql, batch.id);
    }
    expect(errors.map((e) => (e as { code?: string }).code ?? String(e))).toEqual([]);
  });
});

describe('a batch that is not running shows no profile as running', () => {
  it.each([
    ['cancelled', (id: string) => cancelBatch(db.sql, id)],
    ['paused', (id: string) => pauseBatch(db.sql, id)],
    ['error', (id: string) => failBatch(db.sql, id, 'the workflow was terminated')],
  ] as const)('%s: running rows go back to pending, and a late chunk cannot mark them again', async (status, stop) => {
    const ids = await newProfiles(db.sql, 30, 'lk');
    const batch = await runningBatch(db.sql, ids);
    expect(await markRunning(db.sql, batch.id, ids.slice(0, 20), proxyId)).toHaveLength(20);
    expect(await runningRows(batch.id)).toBe(20);
    expect((await stop(batch.id)).status).toBe(status);
    expect(await runningRows(batch.id)).toBe(0);
    // a chunk still in flight when the batch stopped: nothing is marked, but its results are still kept
    expect(await markRunning(db.sql, batch.id, ids, proxyId)).toEqual([]);
    expect(await runningRows(batch.id)).toBe(0);
    expect((await recordSuccesses(db.sql, ctx(batch.id), ids.slice(0, 5).map(success))).recorded).toBe(5);
    const left = await db.sql<{ status: string; n: number }[]>`
      select status, count(*)::int as n from batch_profiles where batch_id = ${batch.id} group by status order by status`;
    expect(left).toEqual([
      { status: 'completed', n: 5 },
      { status: 'pending', n: 25 },
    ]);
    if (status !== 'cancelled') await cancelBatch(db.sql, batch.id);
  });
});

describe('creating a large batch', () => {
  it('does not hold the queue while its profiles are inserted', async () => {
    const ids = await bulkProfiles(100_000);
    const other = await createBatch(db.sql, { profileIds: await newProfiles(db.sql, 10, 'lk') });
    const started = Date.now();
    let createdAt = 0;
    const creating = createBatch(db.sql, { profileIds: ids }).then((b) => ((createdAt = Date.now()), b));
    // wait until the insert of the profile rows is under way
    await waitFor(async () => {
      const [row] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and state = 'active' and query like '%insert into batch_profiles%' and pid <> pg_backend_pid()`;
      return row!.n > 0;
    });
    const timings: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      await pauseBatch(db.sql, other.id);
      await resumeBatch(db.sql, other.id);
      await getQueue(db.sql);
      timings.push(Date.now() - t0);
    }
    const created = await creating;
    const createMs = createdAt - started;
    // the create took seconds, the queue edits around it did not wait for it
    expect(createMs).toBeGreaterThan(1_000);
    expect(Math.max(...timings)).toBeLessThan(500);
    expect(created).toMatchObject({ status: 'queued', total_profiles: 100_000 });
    const queue = await getQueue(db.sql);
    expect(queue.queued.map((b) => [b.id, b.position])).toEqual([
      [other.id, 1],
      [created.id, 2],
    ]);
    await cancelBatch(db.sql, created.id);
    await cancelBatch(db.sql, other.id);
  });
});

let serial = 0;
/** Many profiles at once, straight in SQL (the public upsert validates each name, which is not under test here). */
async function bulkProfiles(n: number): Promise<string[]> {
  const tag = `${Date.now().toString(36)}${serial++}`;
  const rows = await db.sql<{ id: string }[]>`
    insert into profiles (username) select ${'bk_' + tag + '_'} || g from generate_series(1, ${n}) g returning id`;
  return rows.map((r) => r.id);
}

describe('transaction()', () => {
  it('runs a deadlock victim again, so both transactions succeed', async () => {
    await db.sql`create table if not exists lk_pair (id int primary key, n int not null)`;
    await db.sql`insert into lk_pair values (1, 0), (2, 0) on conflict (id) do update set n = 0`;
    let arrived = 0;
    let release!: () => void;
    const bothHoldOne = new Promise<void>((r) => (release = r));
    const runs = [0, 0];
    const crosswise = (i: number, first: number, second: number) =>
      transaction(db.sql, async (tx) => {
        runs[i]!++;
        await tx`update lk_pair set n = n + 1 where id = ${first}`;
        if (runs[i] === 1) {
          if (++arrived === 2) release();
          await bothHoldOne;
        }
        await tx`update lk_pair set n = n + 1 where id = ${second}`;
      });
    await Promise.all([crosswise(0, 1, 2), crosswise(1, 2, 1)]);
    expect(runs[0]! + runs[1]!).toBe(3);
    expect(await db.sql`select id, n from lk_pair order by id`).toEqual([
      { id: 1, n: 2 },
      { id: 2, n: 2 },
    ]);
  });
});
