/**
 * `failBatch`, the queue runner's report that a batch's run ended unexpectedly, against real Postgres: it ends
 * a running batch as `error`, and leaves a batch in any other status as it is. A failure can arrive late,
 * after an operator paused the batch (or paused and resumed it, so it waits its turn again), and must not
 * overrule that.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { getBatch } from '../../src/repos/batches.js';
import { listLogs } from '../../src/repos/logs.js';
import { cancelBatch, claimNextBatch, completeBatch, failBatch, getQueue, pauseBatch, resumeBatch } from '../../src/repos/queue.js';
import { newBatch, runningBatch } from '../helpers/batches.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

beforeEach(async () => {
  await db.sql`truncate batch_logs, batch_profiles, batches, profiles cascade`;
});

const errorLogs = async (batchId: string) =>
  (await listLogs(db.sql, batchId, { limit: 100, eventType: 'BATCH_ERROR' })).items;

describe('a batch whose run failed', () => {
  it('ends as error when it is running, and leaves the runner free', async () => {
    const batch = await runningBatch(db.sql);
    const failed = await failBatch(db.sql, batch.id, 'the workflow was terminated');
    expect(failed).toMatchObject({ status: 'error', position: null, error: 'the workflow was terminated' });
    expect((await getQueue(db.sql)).running).toBeNull();
    expect(await errorLogs(batch.id)).toHaveLength(1);
  });

  it('stays queued, in its place, when it was paused and resumed before the failure arrived', async () => {
    const batch = await runningBatch(db.sql);
    await pauseBatch(db.sql, batch.id);
    const ahead = await newBatch(db.sql);
    const resumed = await resumeBatch(db.sql, batch.id);
    expect(resumed).toMatchObject({ status: 'queued', position: 2 });

    const late = await failBatch(db.sql, batch.id, 'the workflow was terminated');
    expect(late).toMatchObject({ status: 'queued', position: 2, error: null });
    expect(await getBatch(db.sql, batch.id)).toMatchObject({ status: 'queued', position: 2, error: null });
    expect((await getQueue(db.sql)).queued.map((b) => b.id)).toEqual([ahead.id, batch.id]);
    expect(await errorLogs(batch.id)).toEqual([]);
    // it runs when its turn comes
    expect((await claimNextBatch(db.sql))?.id).toBe(ahead.id);
  });

  it.each([
    ['paused', (id: string) => pauseBatch(db.sql, id)],
    ['cancelled', (id: string) => cancelBatch(db.sql, id)],
    ['done', (id: string) => completeBatch(db.sql, id)],
  ] as const)('stays %s when it got there before the failure arrived', async (status, stop) => {
    const batch = await runningBatch(db.sql);
    if (status === 'done') await db.sql`update batch_profiles set status = 'completed' where batch_id = ${batch.id}`;
    expect((await stop(batch.id)).status).toBe(status);

    expect((await failBatch(db.sql, batch.id, 'late')).status).toBe(status);
    expect(await getBatch(db.sql, batch.id)).toMatchObject({ status, error: null });
    expect(await errorLogs(batch.id)).toEqual([]);
  });

  it('keeps the first failure of a batch already in error', async () => {
    const batch = await runningBatch(db.sql);
    await failBatch(db.sql, batch.id, 'first');
    expect(await failBatch(db.sql, batch.id, 'second')).toMatchObject({ status: 'error', error: 'first' });
    expect(await errorLogs(batch.id)).toHaveLength(1);
  });
});
