import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/migrate/migrate.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from '../helpers/db.js';

const MIGRATIONS = readdirSync(fileURLToPath(new URL('../../sql/', import.meta.url)))
  .filter((f) => /^\d{3,}_[\w-]+\.sql$/.test(f))
  .sort();
const TABLES = ['batch_logs', 'batch_profiles', 'batches', 'niches', 'profiles', 'proxies', 'queue_state', 'sessions'];

function urlFor(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropDatabase(name: string): Promise<void> {
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.end();
}

describe('migrations', () => {
  let empty: TestDatabase;
  let db: TestDatabase;

  beforeAll(async () => {
    empty = await createTestDatabase({ migrate: false });
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await empty?.drop();
    await db?.drop();
  });

  it('creates the whole schema on an empty database, then finds nothing to do', async () => {
    const first = await migrate(empty.url);
    expect(first.applied).toEqual(MIGRATIONS);
    const tables = await empty.sql<{ table_name: string }[]>`
      select table_name from information_schema.tables where table_schema = 'public' order by table_name`;
    expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining([...TABLES, 'schema_migrations']));
    const [queue] = await empty.sql<{ paused: boolean }[]>`select paused from queue_state`;
    expect(queue?.paused).toBe(false);

    const second = await migrate(empty.url);
    expect(second.applied).toEqual([]);
    const [count] = await empty.sql<{ n: number }[]>`select count(*)::int as n from schema_migrations`;
    expect(count?.n).toBe(MIGRATIONS.length);
  });

  it('lets two concurrent runs on a database that does not exist yet both succeed', async () => {
    const name = `storycheck_test_${randomBytes(6).toString('hex')}`;
    try {
      const results = await Promise.all([migrate(urlFor(name)), migrate(urlFor(name))]);
      // exactly one run applied the schema; the other waited on the lock and found it done
      expect(results.flatMap((r) => r.applied)).toEqual(MIGRATIONS);
      const sql = postgres(urlFor(name), { max: 1, onnotice: () => {} });
      try {
        const [row] = await sql<{ n: number }[]>`
          select count(*)::int as n from information_schema.tables where table_schema = 'public' and table_name = 'batches'`;
        expect(row?.n).toBe(1);
      } finally {
        await sql.end();
      }
    } finally {
      await dropDatabase(name);
    }
  });

  describe('the database itself guards the queue invariants', () => {
    const insertBatch = (status: string, position: number | null, extra: { successful_checks?: number } = {}) =>
      db.sql`insert into batches (status, position, successful_checks, total_profiles)
             values (${status}, ${position}, ${extra.successful_checks ?? 0}, 10)`;

    it('rejects a second batch at position 0', async () => {
      await insertBatch('running', 0);
      await expect(insertBatch('running', 0)).rejects.toMatchObject({ code: '23505' });
    });

    it('rejects a duplicate queue position', async () => {
      await insertBatch('queued', 1);
      await expect(insertBatch('queued', 1)).rejects.toMatchObject({ code: '23505' });
    });

    it('rejects an unknown batch status', async () => {
      await expect(insertBatch('sleeping', null)).rejects.toMatchObject({ code: '23514' });
    });

    it('rejects a negative counter', async () => {
      await expect(insertBatch('paused', null, { successful_checks: -1 })).rejects.toMatchObject({ code: '23514' });
    });

    it('rejects a queued batch without a position, and a running one elsewhere than 0', async () => {
      await expect(insertBatch('queued', null)).rejects.toMatchObject({ code: '23514' });
      await expect(insertBatch('running', 3)).rejects.toMatchObject({ code: '23514' });
    });
  });
});
