/**
 * Writers of a batch's logs for the commit-order tests: transactions held open until the test commits or rolls
 * them back, and random writers whose transactions overlap.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql, Tx } from '../../src/db/sql.js';
import { insertLogs } from '../../src/repos/logs.js';

export async function runningBatch(sql: Sql): Promise<string> {
  // straight into the table: the queue is not the subject here (one running batch at a time)
  await sql`update batches set status = 'done', position = null where status = 'running'`;
  const [row] = await sql<{ id: string }[]>`
    insert into batches (status, position, total_profiles) values ('running', 0, 0) returning id`;
  return row!.id;
}

export function logEntry(batchId: string, message: string) {
  return { batchId, level: 'INFO' as const, eventType: 'CHECK_RETRY' as const, message };
}

/**
 * One writer of the randomized tests: `transactions` transactions of 1 to 3 logs each, held open a random while
 * and overlapping the other writers'; about one in ten rolled back. Records which messages committed.
 */
export async function writeAtRandom(sql: Sql, batchId: string, worker: number, transactions: number, committed: Set<string>, rolledBack?: Set<string>) {
  for (let i = 0; i < transactions; i++) {
    const tx = await openTransaction(sql);
    await sleep(Math.random() * 10);
    const messages = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, (_, k) => `w${worker}-${i}-${k}`);
    await tx.insert(batchId, ...messages);
    await sleep(Math.random() * 25);
    if (Math.random() < 0.1) {
      await tx.rollback();
      messages.forEach((m) => rolledBack?.add(m));
    } else {
      await tx.commit();
      messages.forEach((m) => committed.add(m));
    }
  }
}

class Rollback extends Error {}

/** A transaction held open until the test commits or rolls it back. */
export async function openTransaction(sql: Sql) {
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
    /** The open transaction, for writes other than logs. */
    tx,
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
