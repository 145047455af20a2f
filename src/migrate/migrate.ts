/**
 * Applies the numbered SQL files of sql/ to a database (`npm run migrate` applies them to DATABASE_URL, from
 * src/migrate/main.ts). Creates the database when missing. Runs every pending migration in one transaction
 * under an advisory lock, so concurrent runs are safe: the second waits, then finds nothing to do.
 *
 * A migration, once applied, is never edited: a change goes into a new file. schema_migrations keeps each
 * applied file's checksum, and a run refuses to start, applying nothing, when an applied file no longer
 * matches it (as Flyway and sqitch do): a database migrated with the earlier text would silently lack the change.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDatabase, databaseName } from '../db/admin.js';
import { createSql, type Sql } from '../db/sql.js';
import { migrationChecksum } from './checksum.js';

const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));
// arbitrary constant shared by all migration runs
const MIGRATION_LOCK_KEY = 724_001_917;

export interface MigrationResult {
  applied: string[];
}

export interface MigrateOptions {
  /** Where the numbered .sql files are (default: the project's sql/). */
  directory?: string;
}

/** An applied migration's file was edited afterwards; nothing was applied. */
export class MigrationChangedError extends Error {
  override name = 'MigrationChangedError';

  constructor(readonly file: string) {
    super(
      `migration ${file} was changed after it was applied: restore it as it was applied and put the change in a new migration`,
    );
  }
}

interface MigrationFile {
  name: string;
  text: string;
  checksum: string;
}

async function migrationFiles(directory: string): Promise<MigrationFile[]> {
  const names = (await readdir(directory)).filter((f) => /^\d{3,}_[\w-]+\.sql$/.test(f)).sort();
  return Promise.all(
    names.map(async (name) => {
      const text = await readFile(join(directory, name), 'utf8');
      return { name, text, checksum: migrationChecksum(text) };
    }),
  );
}

export async function migrate(url: string, options: MigrateOptions = {}): Promise<MigrationResult> {
  if (databaseName(url)) await createDatabase(url, { ifMissing: true });
  // no statement timeout: a migration may rewrite a large table, and waits for a concurrent run's lock
  const sql: Sql = createSql(url, { max: 1, name: 'storycheck-migrate', statementTimeoutMs: 0 });
  try {
    const files = await migrationFiles(options.directory ?? SQL_DIR);
    const applied: string[] = [];
    await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
      await tx`create table if not exists schema_migrations (
        name text primary key, applied_at timestamptz not null default now())`;
      await tx`alter table schema_migrations add column if not exists checksum text`;
      const recorded = new Map(
        (await tx<{ name: string; checksum: string | null }[]>`select name, checksum from schema_migrations`).map((r) => [
          r.name,
          r.checksum,
        ]),
      );

      // every applied file is checked before anything runs
      for (const file of files) {
        if (!recorded.has(file.name)) continue;
        const checksum = recorded.get(file.name);
        if (checksum === null) {
          // Applied before checksums were kept: the file as it is now is adopted, not refused. This holds for
          // 007_proxy_rate.sql on a database migrated before backed_off_at was added to it too: its text
          // then differed from today's, but no checksum of that text was ever kept, so nothing can tell, and
          // 009_proxy_backed_off_at_repair.sql adds the column it lacks.
          await tx`update schema_migrations set checksum = ${file.checksum} where name = ${file.name}`;
        } else if (checksum !== file.checksum) {
          throw new MigrationChangedError(file.name);
        }
      }

      for (const file of files) {
        if (recorded.has(file.name)) continue;
        await tx.unsafe(file.text);
        await tx`insert into schema_migrations (name, checksum) values (${file.name}, ${file.checksum})`;
        applied.push(file.name);
      }
    });
    return { applied };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
