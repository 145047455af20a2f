/**
 * `GET /batches` pages newest first by (created_at, id), and Postgres keeps created_at to the microsecond:
 * batches created within one millisecond must each come back exactly once, whatever the page size.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startApiUnderTest, type Res } from '../../helpers/api.js';

const api = startApiUnderTest({ temporal: false });
const call = api.call.bind(api);
afterAll(() => api.expectNoSecrets());

/**
 * Batches at the given created_at values (several may share one), with their ids. The value goes in as text:
 * a parameter typed timestamptz would pass through a JavaScript Date, which keeps milliseconds only.
 */
async function insertBatches(createdAts: string[]): Promise<Array<{ id: string; createdAt: string }>> {
  const rows: Array<{ id: string; createdAt: string }> = [];
  for (const createdAt of createdAts) {
    const [row] = await api.db.sql<{ id: string }[]>`
      insert into batches (status, position, total_profiles, created_at)
      values ('paused', null, 1, ${createdAt}::text::timestamptz)
      returning id`;
    rows.push({ id: row!.id, createdAt });
  }
  return rows;
}

/** The ids of every page of `GET /batches?limit=<limit>`, in the order they came. */
async function pageThrough(limit: number): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const res: Res = await call('GET', `/batches?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status, res.text).toBe(200);
    seen.push(...res.body.items.map((b: { id: string }) => b.id));
    cursor = res.body.next_cursor;
  } while (cursor !== null && seen.length < 100);
  return seen;
}

// newest first, then by id: what the list promises
const newestFirst = (a: { id: string; createdAt: string }, b: { id: string; createdAt: string }) =>
  a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1;

describe('paging the batch list', () => {
  it('returns every batch exactly once when many were created within one millisecond', async () => {
    const inOneMillisecond = ['100', '250', '250', '401', '402', '777', '999'].map((us) => `2026-03-01T12:00:00.123${us.padStart(3, '0')}Z`);
    const around = ['2026-03-01T12:00:00.122999Z', '2026-03-01T12:00:00.124000Z', '2026-03-01T12:00:00.124001Z'];
    const batches = await insertBatches([...inOneMillisecond, ...around]);
    const expected = [...batches].sort(newestFirst).map((b) => b.id);

    for (const limit of [1, 2, 3, 4]) {
      expect(await pageThrough(limit), `limit ${limit}`).toEqual(expected);
    }
  });

  it('hands out cursors that name the last batch to the microsecond', async () => {
    const [only, older] = await insertBatches(['2026-03-01T12:00:00.123456Z', '2026-03-01T12:00:00.123455Z']);
    const first = await call('GET', '/batches?limit=1');
    expect(first.body.items.map((b: { id: string }) => b.id)).toEqual([only!.id]);
    expect(first.body.next_cursor).toBe(`${Date.parse('2026-03-01T12:00:00Z') / 1000}.123456_${only!.id}`);
    const rest = await call('GET', `/batches?limit=1&cursor=${first.body.next_cursor}`);
    expect(rest.body).toEqual({ items: [expect.objectContaining({ id: older!.id })], next_cursor: null });
  });

  it('still accepts a cursor in epoch milliseconds, resuming before that millisecond', async () => {
    const [newer, older] = await insertBatches(['2026-03-01T12:00:00.124500Z', '2026-03-01T12:00:00.123500Z']);
    const res = await call('GET', `/batches?cursor=${Date.parse('2026-03-01T12:00:00.124Z')}_${randomUUID()}`);
    expect(res.status, res.text).toBe(200);
    const ids = res.body.items.map((b: { id: string }) => b.id);
    expect(ids).toEqual([older!.id]);
    expect(ids).not.toContain(newer!.id);
  });
});
