/**
 * A batch's logs reach readers in commit order, with no gaps and no duplicates, however the writers'
 * transactions interleave: the log pages (`GET /batches/:id/logs` through listLogs and its cursor) and the
 * event stream (`GET /batches/:id/events`, its `log` ids and Last-Event-ID), against real Postgres.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql, Tx } from '../../src/db.js';
import { insertLogs, listLogs, type LogItem } from '../../src/repos/logs.js';
import { encodeCursor } from '../../src/repos/pagination.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

async function runningBatch(): Promise<string> {
  // straight into the table: the queue is not the subject here (one running batch at a time)
  await db.sql`update batches set status = 'done', position = null where status = 'running'`;
  const [row] = await db.sql<{ id: string }[]>`
    insert into batches (status, position, total_profiles) values ('running', 0, 0) returning id`;
  return row!.id;
}

function logEntry(batchId: string, message: string) {
  return { batchId, level: 'INFO' as const, eventType: 'CHECK_RETRY' as const, message };
}

class Rollback extends Error {}

/** A transaction held open until the test commits or rolls it back. */
async function openTransaction(sql: Sql) {
  let decide!: (commit: boolean) => void;
  const decision = new Promise<boolean>((resolve) => (decide = resolve));
  let opened!: (tx: Tx) => void;
  const txOpened = new Promise<Tx>((resolve) => (opened = resolve));
  const finished = sql
    .begin(async (tx) => {
      opened(tx);
      if (!(await decision)) throw new Rollback();
    })
    .then(
      () => undefined,
      (err: unknown) => {
        if (!(err instanceof Rollback)) throw err;
      },
    );
  const tx = await txOpened;
  return {
    insert: (batchId: string, ...messages: string[]) => insertLogs(tx, messages.map((m) => logEntry(batchId, m))),
    commit: async () => {
      decide(true);
      await finished;
    },
    rollback: async () => {
      decide(false);
      await finished;
    },
  };
}

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
    const batchId = await runningBatch();
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
    const batchId = await runningBatch();
    const committed = new Set<string>();
    const rolledBack = new Set<string>();
    let writing = true;

    const writers = async (worker: number) => {
      for (let i = 0; i < 15; i++) {
        const tx = await openTransaction(db.sql);
        await sleep(Math.random() * 10);
        const messages = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, (_, k) => `w${worker}-${i}-${k}`);
        await tx.insert(batchId, ...messages);
        await sleep(Math.random() * 25);
        if (Math.random() < 0.1) {
          await tx.rollback();
          messages.forEach((m) => rolledBack.add(m));
        } else {
          await tx.commit();
          messages.forEach((m) => committed.add(m));
        }
      }
    };

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
