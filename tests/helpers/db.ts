import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { createSql, type Sql } from '../../src/db.js';
import { migrate } from '../../src/migrate.js';

const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  name: string;
  sql: Sql;
  /** Drops the database (call in afterAll). */
  drop(): Promise<void>;
}

/** A database of the suite's own, with a random name, migrated; dropped at the end. */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `storycheck_test_${randomBytes(6).toString('hex')}`;
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const dbUrl = url.toString();
  if (options.migrate === false) {
    const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database "${name}"`);
    await admin.end();
  } else {
    await migrate(dbUrl);
  }
  const sql = createSql(dbUrl, { max: 20 });
  return {
    url: dbUrl,
    name,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
      await admin.end();
    },
  };
}
