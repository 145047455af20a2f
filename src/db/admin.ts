/**
 * Creating and dropping a whole database, through the `postgres` maintenance database of the same server
 * (a database cannot be created or dropped from a connection to itself).
 */
import postgres from 'postgres';

/** The database a URL names ('' for none). */
export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}

/** The same server's URL with another database. */
export function withDatabase(url: string, name: string): string {
  const other = new URL(url);
  other.pathname = `/${name}`;
  return other.toString();
}

const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`;

async function onMaintenanceDb<T>(url: string, work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(withDatabase(url, 'postgres'), { max: 1, connect_timeout: 10, onnotice: () => {} });
  try {
    return await work(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Creates the database `url` names; with `ifMissing`, an existing one (or one created meanwhile) is fine. */
export async function createDatabase(url: string, options: { ifMissing?: boolean } = {}): Promise<void> {
  const name = databaseName(url);
  await onMaintenanceDb(url, async (sql) => {
    if (options.ifMissing) {
      const [row] = await sql<{ exists: boolean }[]>`select exists(select 1 from pg_database where datname = ${name}) as exists`;
      if (row?.exists) return;
    }
    try {
      await sql.unsafe(`create database ${quoted(name)}`);
    } catch (err) {
      // another run created it first
      const code = (err as { code?: string }).code;
      if (!options.ifMissing || (code !== '42P04' && code !== '23505')) throw err;
    }
  });
}

/** Drops the database `url` names, closing whatever is still connected to it. */
export async function dropDatabase(url: string): Promise<void> {
  await onMaintenanceDb(url, (sql) => sql.unsafe(`drop database if exists ${quoted(databaseName(url))} with (force)`));
}
