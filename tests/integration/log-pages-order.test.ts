/**
 * A batch's log pages (`GET /batches/:id/logs` through listLogs and its cursor) reach readers in commit order,
 * with no gaps and no duplicates, however the writers' transactions interleave, against real Postgres.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listLogs, type LogRow as LogItem } from '../../src/repos/logs.js';
import { encodeCursor } from '../../src/repos/pagination.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { openTransaction, runningBatch, writeAtRandom } from '../helpers/log-writers.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

/**
 * The cursor of GET /batches/:id/logs positioned after one item. listLogs hands one out only when more rows
 * exist; a reader that keeps polling after the last page resumes from its last item the same way.
 */
async function cursorAfter(item: LogItem): Promise<string> {
  const [row] = await db.sql<{ seq: number }[]>`select seq from batch_logs where id = ${item.id}`;
  return encodeCursor([row!.seq]);
}

/** One poll of a log reader: every page after `cursor`, and where the next poll starts. */
async function poll(batchId: string, cursor: string | null, limit = 2): Promise<{ items: LogItem[]; cursor: string | null }> {
  const items: LogItem[] = [];
  for (;;) {
    const page = await listLogs(db.sql, batchId, { limit, cursor });
    items.push(...page.items);
    const last = page.items[page.items.length - 1];
    if (last !== undefined) cursor = page.next_cursor ?? (await cursorAfter(last));
    if (page.next_cursor === null) return { items, cursor };
  }
}

describe('log pages in commit order', () => {
  it('delivers a log that commits after a later-inserted one, once, after it', async () => {
    const batchId = await runningBatch(db.sql);
    const a = await openTransaction(db.sql);
    const b = await openTransaction(db.sql);
    await a.insert(batchId, 'A'); // inserted first
    await b.insert(batchId, 'B');
    await b.commit(); // committed first

    const first = await poll(batchId, null);
    expect(first.items.map((l) => l.message)).toEqual(['B']);

    await a.commit();
    const second = await poll(batchId, first.cursor);
    expect(second.items.map((l) => l.message)).toEqual(['A']);
    expect((await poll(batchId, second.cursor)).items).toEqual([]);
  });

  it('gives every committed log to a reader paging throughout, exactly once, and no rolled-back one', async () => {
    const batchId = await runningBatch(db.sql);
    const committed = new Set<string>();
    const rolledBack = new Set<string>();
    let writing = true;

    const writers = (worker: number) => writeAtRandom(db.sql, batchId, worker, 15, committed, rolledBack);

    const seen: string[] = [];
    const reader = async () => {
      let cursor: string | null = null;
      for (let last = false; !last; ) {
        last = !writing; // one more full poll after the writers are done
        const read = await poll(batchId, cursor, 3);
        seen.push(...read.items.map((l) => l.message));
        cursor = read.cursor;
      }
    };

    const reading = reader();
    await Promise.all(Array.from({ length: 8 }, (_, w) => writers(w)));
    writing = false;
    await reading;

    expect(committed.size).toBeGreaterThan(100);
    expect(seen.filter((m) => rolledBack.has(m))).toEqual([]);
    expect(seen.length).toBe(new Set(seen).size); // no duplicates
    expect(new Set(seen)).toEqual(committed); // no gaps
  });
});
