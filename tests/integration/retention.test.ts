/**
 * Retention against real Postgres: for each table, rows on both sides of its cutoff, and only the old ones go;
 * a live story item stays whatever its age, a batch that is not finished stays, and no batch goes while
 * BATCH_RETENTION_DAYS is unset. A slice smaller than the rows shows the round goes on until nothing is left.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BatchStatus } from '../../src/enums.js';
import { createBatch } from '../../src/repos/queue.js';
import { removeExpiredRows, type RetentionPolicy } from '../../src/repos/retention.js';
import { newProfiles } from '../helpers/batches.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

beforeEach(async () => {
  await db.sql`truncate story_events, story_items, batch_logs, batch_profiles, batches, webhooks cascade`;
});

const POLICY: RetentionPolicy = { storyDays: 90, logDays: 30, batchDays: null };

/** A story event recorded `days` ago. */
async function addEvent(profileId: string, itemPk: string, days: number): Promise<void> {
  await db.sql`
    insert into story_events (type, profile_id, item_pk, occurred_at, created_at)
    values ('story.posted', ${profileId}, ${itemPk}, now() - ${days} * interval '1 day', now() - ${days} * interval '1 day')`;
}

/**
 * A story item first seen 200 days ago that expires (or expired) `expiresInDays` from now, closed by a check
 * `endedDaysAgo` ago if given.
 */
async function addItem(profileId: string, itemPk: string, item: { expiresInDays: number; endedDaysAgo?: number; batchId?: string }): Promise<void> {
  const ended = item.endedDaysAgo ?? null;
  await db.sql`
    insert into story_items (profile_id, item_pk, taken_at, expiring_at, first_seen_at, first_seen_batch_id, last_seen_at, last_seen_batch_id, ended_at)
    values (
      ${profileId}, ${itemPk},
      now() - interval '200 days', now() + ${item.expiresInDays} * interval '1 day',
      now() - interval '200 days', ${item.batchId ?? null}, now() - interval '200 days', ${item.batchId ?? null},
      now() - ${ended}::int * interval '1 day')`;
}

/** A log line recorded `days` ago, of a batch or of none. */
async function addLog(days: number, batchId: string | null = null): Promise<void> {
  await db.sql`
    insert into batch_logs (batch_id, level, event_type, message, created_at)
    values (${batchId}, 'INFO', 'BATCH_QUEUED', ${`logged ${days} days ago`}, now() - ${days} * interval '1 day')`;
}

/** A batch of `profiles` new profiles, left in `status` since `days` ago (completed then when `completed`). */
async function addBatch(status: BatchStatus, days: number, options: { profiles?: number; logs?: number; completed?: boolean } = {}): Promise<string> {
  const profileIds = await newProfiles(db.sql, options.profiles ?? 2);
  const batch = await createBatch(db.sql, { profileIds, hold: status !== 'queued' });
  const position = status === 'queued' ? 1 : status === 'running' ? 0 : null;
  await db.sql`
    update batches set
      status = ${status}, position = ${position},
      completed_at = case when ${options.completed ?? false} then now() - ${days} * interval '1 day' end,
      updated_at = now() - ${days} * interval '1 day'
    where id = ${batch.id}`;
  // its logs are the ones given, all young: only the batch's own age can take them
  await db.sql`delete from batch_logs where batch_id = ${batch.id}`;
  for (let i = 0; i < (options.logs ?? 1); i++) await addLog(1, batch.id);
  return batch.id;
}

/** A ping delivery to a new endpoint, finished (delivered) `days` ago, or still pending when `days` is null. */
async function addDelivery(days: number | null): Promise<void> {
  const [hook] = await db.sql<{ id: string }[]>`insert into webhooks (url, events) values ('https://example.com/hook', '{story.posted}') returning id`;
  const [delivery] = await db.sql<{ id: string }[]>`
    insert into webhook_deliveries (webhook_id, event_type, payload, status, finished_at, created_at)
    values (${hook!.id}, 'ping', '{}', ${days === null ? 'pending' : 'delivered'}, now() - ${days}::int * interval '1 day',
      now() - interval '200 days')
    returning id`;
  await db.sql`
    insert into webhook_delivery_attempts (delivery_id, attempt, started_at, status_code)
    values (${delivery!.id}, 1, now() - interval '200 days', 200)`;
}

const column = async (query: Promise<Record<string, unknown>[]>) => (await query).map((r) => Object.values(r)[0]);

describe('retention', () => {
  it('deletes webhook deliveries finished before the log cutoff, with their attempts; one still retrying stays', async () => {
    await addDelivery(31);
    await addDelivery(29);
    await addDelivery(null);

    const removed = await removeExpiredRows(db.sql, POLICY);

    expect(removed.webhook_deliveries).toBe(1);
    expect(await column(db.sql`select status from webhook_deliveries order by status`)).toEqual(['delivered', 'pending']);
    expect(await column(db.sql`select count(*)::int from webhook_delivery_attempts`)).toEqual([2]);
  });

  it('deletes story events and ended story items older than the story cutoff; younger ones and live items stay', async () => {
    const [profile] = await newProfiles(db.sql, 1);
    for (const [pk, days] of [['e-old-1', 91], ['e-old-2', 120], ['e-old-3', 365], ['e-young-1', 89], ['e-young-2', 0]] as const) {
      await addEvent(profile!, pk, days);
    }
    await addItem(profile!, 'closed-old', { expiresInDays: -92, endedDaysAgo: 91 });
    await addItem(profile!, 'expired-old', { expiresInDays: -91 });
    await addItem(profile!, 'closed-young', { expiresInDays: -88, endedDaysAgo: 89 });
    // expired long ago but closed by a check only recently: its end is what counts
    await addItem(profile!, 'closed-late', { expiresInDays: -100, endedDaysAgo: 10 });
    await addItem(profile!, 'expired-young', { expiresInDays: -89 });
    // first seen 200 days ago and still live: never deleted, however old
    await addItem(profile!, 'live-ancient', { expiresInDays: 1 });

    const removed = await removeExpiredRows(db.sql, POLICY);

    expect(removed).toEqual({ story_events: 3, story_items: 2, batch_logs: 0, batches: 0, batch_profiles: 0, webhook_deliveries: 0 });
    expect(await column(db.sql`select item_pk from story_events order by item_pk`)).toEqual(['e-young-1', 'e-young-2']);
    expect(await column(db.sql`select item_pk from story_items order by item_pk`)).toEqual(['closed-late', 'closed-young', 'expired-young', 'live-ancient']);
    // nothing is left for a second round
    expect(await removeExpiredRows(db.sql, POLICY)).toEqual({ story_events: 0, story_items: 0, batch_logs: 0, batches: 0, batch_profiles: 0, webhook_deliveries: 0 });
  });

  it('deletes batch logs older than the log cutoff, of a batch or of none; younger ones stay', async () => {
    const batchId = await addBatch('running', 60, { logs: 0 });
    for (const days of [45, 31, 31]) await addLog(days, batchId);
    await addLog(40);
    for (const days of [29, 1]) await addLog(days, batchId);
    await addLog(0);

    const removed = await removeExpiredRows(db.sql, POLICY);

    expect(removed).toMatchObject({ batch_logs: 4, batches: 0 });
    expect(await column(db.sql`select message from batch_logs order by seq`)).toEqual(['logged 29 days ago', 'logged 1 days ago', 'logged 0 days ago']);
  });

  it('deletes finished batches that ended before the batch cutoff, with their results and logs; unfinished and younger ones stay', async () => {
    const doneOld = await addBatch('done', 8, { completed: true, profiles: 3, logs: 2 });
    const cancelledOld = await addBatch('cancelled', 9, { profiles: 2, logs: 1 });
    const errorOld = await addBatch('error', 30, { completed: true, profiles: 1, logs: 3 });
    const doneYoung = await addBatch('done', 6, { completed: true });
    const cancelledYoung = await addBatch('cancelled', 6);
    const stay = [doneYoung, cancelledYoung, await addBatch('queued', 30), await addBatch('paused', 30), await addBatch('running', 30)];
    // a live item first seen by a batch that goes keeps its place in the timeline, without the batch
    const [profile] = await newProfiles(db.sql, 1);
    await addItem(profile!, 'live', { expiresInDays: 1, batchId: doneOld });

    const removed = await removeExpiredRows(db.sql, { ...POLICY, batchDays: 7 });

    expect(removed).toEqual({ story_events: 0, story_items: 0, batches: 3, batch_profiles: 6, batch_logs: 6, webhook_deliveries: 0 });
    expect((await column(db.sql`select id from batches`)).sort()).toEqual([...stay].sort());
    const gone = [doneOld, cancelledOld, errorOld];
    expect(await column(db.sql`select count(*)::int from batch_profiles where batch_id = any(${gone})`)).toEqual([0]);
    expect(await column(db.sql`select count(*)::int from batch_logs where batch_id = any(${gone})`)).toEqual([0]);
    expect(await column(db.sql`select count(*)::int from batch_profiles where batch_id = any(${stay})`)).toEqual([10]);
    expect(await db.sql`select first_seen_batch_id, last_seen_batch_id from story_items`).toEqual([{ first_seen_batch_id: null, last_seen_batch_id: null }]);
  });

  it('deletes no batch while BATCH_RETENTION_DAYS is unset, however old', async () => {
    const old = [await addBatch('done', 3650, { completed: true }), await addBatch('cancelled', 3650), await addBatch('error', 3650)];

    const removed = await removeExpiredRows(db.sql, POLICY);

    expect(removed).toMatchObject({ batches: 0, batch_profiles: 0, batch_logs: 0 });
    expect((await column(db.sql`select id from batches`)).sort()).toEqual([...old].sort());
  });

  it('goes on slice by slice until nothing old is left, whatever the slice size', async () => {
    const [profile] = await newProfiles(db.sql, 1);
    for (let i = 0; i < 7; i++) {
      await addEvent(profile!, `old-${i}`, 100);
      await addItem(profile!, `closed-${i}`, { expiresInDays: -100, endedDaysAgo: 100 });
      await addItem(profile!, `expired-${i}`, { expiresInDays: -100 });
      await addLog(40);
    }
    const batchId = await addBatch('done', 10, { completed: true, profiles: 7, logs: 7 });
    await addEvent(profile!, 'young', 1);
    await addItem(profile!, 'live', { expiresInDays: 1 });
    await addLog(1);
    let statements = 0;

    const removed = await removeExpiredRows(db.sql, { ...POLICY, batchDays: 7 }, { batchSize: 2, between: () => statements++ });

    expect(removed).toEqual({ story_events: 7, story_items: 14, batch_logs: 14, batches: 1, batch_profiles: 7, webhook_deliveries: 0 });
    const total = Object.values(removed).reduce((a, b) => a + b, 0);
    // each statement deleted two rows at most
    expect(statements).toBeGreaterThanOrEqual(total / 2);
    expect(await column(db.sql`select item_pk from story_events`)).toEqual(['young']);
    expect(await column(db.sql`select item_pk from story_items`)).toEqual(['live']);
    expect(await column(db.sql`select message from batch_logs`)).toEqual(['logged 1 days ago']);
    expect(await column(db.sql`select id from batches where id = ${batchId}`)).toEqual([]);
  });
});
