/**
 * Applies the numbered SQL files of sql/ to a database (`npm run migrate` applies them to DATABASE_URL, from
 * src/migrate/main.ts). Creates the database when missing. Runs every pending migration in one transaction
 * under an advisory lock, so concurrent runs are safe: the second waits, then finds nothing to do.
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createDatabase, databaseName } from '../db-admin.js';
import { createSql, type Sql } from '../db.js';

const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));
// arbitrary constant shared by all migration runs
const MIGRATION_LOCK_KEY = 724_001_917;

export interface MigrationResult {
  applied: string[];
}

async function migrationFiles(): Promise<string[]> {
  return (await readdir(SQL_DIR)).filter((f) => /^\d{3,}_[\w-]+\.sql$/.test(f)).sort();
}

export async function migrate(url: string): Promise<MigrationResult> {
  if (databaseName(url)) await createDatabase(url, { ifMissing: true });
  // no statement timeout: a migration may rewrite a large table, and waits for a concurrent run's lock
  const sql: Sql = createSql(url, { max: 1, name: 'storycheck-migrate', statementTimeoutMs: 0 });
  try {
    const files = await migrationFiles();
    const applied: string[] = [];
    await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
      await tx`create table if not exists schema_migrations (
        name text primary key, applied_at timestamptz not null default now())`;
      const done = new Set((await tx<{ name: string }[]>`select name from schema_migrations`).map((r) => r.name));
      for (const file of files) {
        if (done.has(file)) continue;
        await tx.unsafe(await readFile(SQL_DIR + file, 'utf8'));
        await tx`insert into schema_migrations (name) values (${file})`;
        applied.push(file);
      }
    });
    return { applied };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
