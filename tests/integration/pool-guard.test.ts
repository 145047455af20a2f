/**
 * The guards of every pool `createSql` opens (src/db/guard.ts), against real Postgres: a pool query or a second
 * transaction from inside a transaction of the same pool fails at once instead of waiting for a connection
 * it may never get; a transaction waits for a connection a bounded time; one connection always stays free
 * for plain queries; and the server ends statements and transactions left running or idle too long.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql, transaction, type Sql } from '../../src/db/sql.js';
import { PoolBusyError, PoolInTransactionError } from '../../src/db/guard.js';
import { createMissingProfiles } from '../../src/repos/profiles.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

let db: TestDatabase;
const opened: Sql[] = [];

function pool(options: Parameters<typeof createSql>[1] = {}): Sql {
  const sql = createSql(db.url, { name: 'storycheck-guard-test', ...options });
  opened.push(sql);
  return sql;
}

/** A promise that never settles: a transaction left open on purpose. */
const forever = () => new Promise<never>(() => {});

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await Promise.all(opened.map((sql) => sql.end({ timeout: 1 })));
  await db?.drop();
});

describe('inside a transaction', () => {
  it('a query on the same pool fails at once and rolls the transaction back', async () => {
    const sql = pool({ max: 2 });
    const name = `guard_${Date.now().toString(36)}`;
    const attempt = transaction(sql, async (tx) => {
      await tx`insert into profiles (username) values (${name})`;
      await sql`select 1`;
    });
    await expect(attempt).rejects.toBeInstanceOf(PoolInTransactionError);
    await expect(attempt).rejects.toThrow(/inside a transaction of the same pool/);
    expect(await sql`select 1 from profiles where username = ${name}`).toHaveLength(0);
  });

  it('so does a repository function handed the pool instead of tx, and a promise the callback left running', async () => {
    const sql = pool({ max: 2 });
    await expect(transaction(sql, () => createMissingProfiles(sql, ['guard_repo']))).rejects.toBeInstanceOf(PoolInTransactionError);

    let started: Promise<unknown> = Promise.resolve();
    await expect(
      transaction(sql, async (tx) => {
        // started inside, awaited only after a tx query: the way a pipelined create once locked the API up
        started = new Promise((resolve) => setImmediate(resolve)).then(() => sql`select 1`);
        started.catch(() => {});
        await tx`select 1`;
        await started;
      }),
    ).rejects.toBeInstanceOf(PoolInTransactionError);
  });

  it('a second transaction on the same pool fails at once, while another pool is fine', async () => {
    const sql = pool({ max: 2 });
    const other = pool({ max: 2 });
    await expect(transaction(sql, () => transaction(sql, async (tx) => tx`select 1`))).rejects.toBeInstanceOf(
      PoolInTransactionError,
    );
    const [row] = await transaction(sql, async () => transaction(other, async (tx) => tx<{ n: number }[]>`select 2 as n`));
    expect(row!.n).toBe(2);
  });

  it('a fragment of the pool inside a tx query is fine, and so is the pool once the transaction ended', async () => {
    const sql = pool({ max: 2 });
    let later: Promise<unknown> = Promise.resolve();
    const rows = await transaction(sql, async (tx) => {
      later = new Promise((resolve) => setTimeout(resolve, 50)).then(() => sql<{ n: number }[]>`select 3 as n`);
      return tx<{ n: number }[]>`select 1 as n where ${sql`true`}`;
    });
    expect(rows[0]!.n).toBe(1);
    expect(((await later) as Array<{ n: number }>)[0]!.n).toBe(3);
  });
});

describe('waiting for a connection', () => {
  it('transactions beyond max - 1 wait; past the deadline they fail with PoolBusyError; plain queries still answer', async () => {
    const sql = pool({ max: 3, acquireTimeoutMs: 300 });
    const release: Array<() => void> = [];
    const holders = [0, 1].map(() =>
      transaction(sql, async (tx) => {
        await tx`select 1`;
        await new Promise<void>((resolve) => release.push(resolve));
      }),
    );
    await waitFor(async () => release.length === 2, { timeoutMs: 5_000, what: 'two transactions to hold their connections' });

    // the third connection serves plain queries at once
    const started = performance.now();
    expect(await sql`select 1`).toHaveLength(1);
    expect(performance.now() - started).toBeLessThan(1_000);

    const refused = transaction(sql, async (tx) => tx`select 1`);
    await expect(refused).rejects.toBeInstanceOf(PoolBusyError);
    expect(performance.now() - started).toBeLessThan(3_000);

    // a waiting transaction gets the first connection freed
    const waiting = transaction(sql, async (tx) => tx<{ n: number }[]>`select 4 as n`);
    release.shift()!();
    expect((await waiting)[0]!.n).toBe(4);
    release.shift()!();
    await Promise.all(holders);
  });

  it('many more transactions than connections all complete, each taking its turn', async () => {
    const sql = pool({ max: 3 });
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        transaction(sql, async (tx) => {
          await tx`select pg_sleep(0.005)`;
          return (await tx<{ n: number }[]>`select ${i}::int as n`)[0]!.n;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
});

describe('the server ends what is left stuck', () => {
  it('a statement over statement_timeout is cancelled', async () => {
    const sql = pool({ max: 1, statementTimeoutMs: 200 });
    await expect(sql`select pg_sleep(5)`).rejects.toMatchObject({ code: '57014' });
    expect(await sql`select 1`).toHaveLength(1);
  });

  it('a transaction left idle is ended, its locks freed, and its pool serves on', async () => {
    const sql = pool({ max: 2, idleInTransactionTimeoutMs: 500 });
    const stuck = transaction(sql, async (tx) => {
      await tx`select singleton from queue_state for update`;
      return forever();
    });
    const started = performance.now();
    await expect(stuck).rejects.toBeTruthy();
    expect(performance.now() - started).toBeLessThan(5_000);

    // the lock is free for anyone, and the pool runs transactions again
    const probe = pool({ max: 1, name: 'storycheck-guard-probe' });
    await transaction(probe, async (tx) => tx`select singleton from queue_state for update nowait`);
    expect(await transaction(sql, async (tx) => tx<{ n: number }[]>`select 5 as n`)).toEqual([{ n: 5 }]);
    const idle = await probe<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = ${db.name} and application_name = 'storycheck-guard-test' and state like 'idle in transaction%'`;
    expect(idle[0]!.n).toBe(0);
  });
});
