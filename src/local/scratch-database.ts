/**
 * A database of one's own on a shared Postgres, for a test file or a benchmark run: a random name, migrated
 * unless asked otherwise, dropped by `drop`.
 */
import { randomBytes } from 'node:crypto';
import { createDatabase, dropDatabase, withDatabase } from '../db/admin.js';
import { createSql, type Sql } from '../db/sql.js';
import { migrate } from '../migrate/migrate.js';

export interface ScratchDatabase {
  url: string;
  name: string;
  sql: Sql;
  /** Closes `sql` and drops the database. */
  drop(): Promise<void>;
}

export interface ScratchDatabaseOptions {
  /** Any URL of the server to create it on (its database part is ignored). */
  serverUrl: string;
  /** Start of the name; a random suffix follows. */
  prefix: string;
  /** Whether to apply the migrations (default true); otherwise the database is left empty. */
  migrate?: boolean;
  /** Connections of `sql`. */
  max?: number;
}

export async function createScratchDatabase(options: ScratchDatabaseOptions): Promise<ScratchDatabase> {
  const name = `${options.prefix}_${randomBytes(6).toString('hex')}`;
  const url = withDatabase(options.serverUrl, name);
  try {
    if (options.migrate === false) await createDatabase(url);
    else await migrate(url);
  } catch (err) {
    await dropDatabase(url).catch(() => {});
    throw err;
  }
  const sql = createSql(url, { max: options.max ?? 20 });
  return {
    url,
    name,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      await dropDatabase(url);
    },
  };
}
