/**
 * Applies the numbered SQL files of sql/ to DATABASE_URL. Creates the database when missing. Runs every
 * pending migration in one transaction under an advisory lock, so concurrent runs are safe: the second
 * waits, then finds nothing to do.
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { createSql, describeDbError, type Sql } from './db.js';
import { redact } from './redact.js';

const SQL_DIR = fileURLToPath(new URL('../sql/', import.meta.url));
// arbitrary constant shared by all migration runs
const MIGRATION_LOCK_KEY = 724_001_917;

export interface MigrationResult {
  applied: string[];
}

async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) return;
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, connect_timeout: 10, onnotice: () => {} });
  try {
    const [row] = await sql<{ exists: boolean }[]>`select exists(select 1 from pg_database where datname = ${name}) as exists`;
    if (!row?.exists) {
      try {
        await sql.unsafe(`create database "${name.replace(/"/g, '""')}"`);
      } catch (err) {
        // another migrate run created it first
        const code = (err as { code?: string }).code;
        if (code !== '42P04' && code !== '23505') throw err;
      }
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function migrationFiles(): Promise<string[]> {
  return (await readdir(SQL_DIR)).filter((f) => /^\d{3,}_[\w-]+\.sql$/.test(f)).sort();
}

export async function migrate(url: string): Promise<MigrationResult> {
  await ensureDatabase(url);
  const sql: Sql = createSql(url, { max: 1 });
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

async function run(): Promise<void> {
  const { loadConfigOrExit } = await import('./config.js');
  const config = loadConfigOrExit();
  try {
    const { applied } = await migrate(config.DATABASE_URL);
    console.log(applied.length ? `migrations applied: ${applied.join(', ')}` : 'migrations: up to date');
  } catch (err) {
    console.error(redact(`migrate failed: ${describeDbError(err)}`));
    process.exit(1);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().catch((err) => {
    console.error(redact(String((err as Error)?.message ?? err)));
    process.exit(1);
  });
}
