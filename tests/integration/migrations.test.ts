import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { appendFile, cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/migrate/migrate.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from '../helpers/db.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));
const MIGRATIONS = readdirSync(SQL_DIR)
  .filter((f) => /^\d{3,}_[\w-]+\.sql$/.test(f))
  .sort();
const REPAIR = '009_proxy_backed_off_at_repair.sql';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
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

  describe('applied files', () => {
    const scratch: TestDatabase[] = [];
    afterAll(async () => {
      await Promise.all(scratch.map((d) => d.drop()));
    });
    async function migrated(): Promise<TestDatabase> {
      const d = await createTestDatabase();
      scratch.push(d);
      return d;
    }
    const recorded = async (d: TestDatabase) =>
      d.sql<{ name: string; checksum: string | null; applied_at: Date }[]>`
        select name, checksum, applied_at from schema_migrations order by name`;
    const column = async (d: TestDatabase, table: string, name: string) =>
      (
        await d.sql<{ data_type: string; is_nullable: string; column_default: string | null }[]>`
          select data_type, is_nullable, column_default from information_schema.columns
          where table_schema = 'public' and table_name = ${table} and column_name = ${name}`
      )[0];

    it('adds proxies.backed_off_at to a database that applied 007_proxy_rate.sql before the column was in it', async () => {
      const d = await migrated();
      const expected = await column(d, 'proxies', 'backed_off_at');
      expect(expected).toBeDefined();
      // as such a database is: 007 applied without the column, the repair not yet, and no checksums kept
      // (later migrations stay applied: they need not be idempotent)
      await d.sql`alter table proxies drop column backed_off_at`;
      await d.sql`delete from schema_migrations where name = ${REPAIR}`;
      await d.sql`alter table schema_migrations drop column if exists checksum`;

      expect((await migrate(d.url)).applied).toEqual([REPAIR]);
      expect(await column(d, 'proxies', 'backed_off_at')).toEqual(expected);
      // and on a database that has the column, the repair changes nothing
      await d.sql`delete from schema_migrations where name = ${REPAIR}`;
      expect((await migrate(d.url)).applied).toEqual([REPAIR]);
      expect(await column(d, 'proxies', 'backed_off_at')).toEqual(expected);
    });

    it('records the checksum of every file a database applied before checksums were kept, and goes on', async () => {
      const d = await migrated();
      await d.sql`alter table schema_migrations drop column if exists checksum`;
      expect((await migrate(d.url)).applied).toEqual([]);
      const rows = await recorded(d);
      expect(rows.map((r) => r.name)).toEqual(MIGRATIONS);
      for (const row of rows) expect(row.checksum, row.name).toBe(sha256(readFileSync(join(SQL_DIR, row.name), 'utf8')));
    });

    it('finds nothing to do, and changes nothing, when run again with the files unchanged', async () => {
      const d = await migrated();
      const before = await recorded(d);
      expect(before.every((r) => r.checksum !== null)).toBe(true);
      expect((await migrate(d.url)).applied).toEqual([]);
      expect(await recorded(d)).toEqual(before);
    });

    it('refuses to run, naming the file, when a file was changed after it was applied', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'storycheck-sql-'));
      try {
        await cp(SQL_DIR, dir, { recursive: true });
        const d = await migrated();
        const before = await recorded(d);
        await appendFile(join(dir, '003_health_and_stalls.sql'), '\nalter table batches add column edited_later text;\n');
        await writeFile(join(dir, '999_pending.sql'), 'create table pending_migration_ran (id int);\n');

        await expect(migrate(d.url, { directory: dir })).rejects.toThrow(/003_health_and_stalls\.sql was changed after it was applied/);
        // nothing ran: neither the edit nor the pending file
        expect(await column(d, 'batches', 'edited_later')).toBeUndefined();
        const [pending] = await d.sql<{ n: number }[]>`
          select count(*)::int as n from information_schema.tables where table_name = 'pending_migration_ran'`;
        expect(pending!.n).toBe(0);
        expect(await recorded(d)).toEqual(before);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('npm run migrate', () => {
    it('stops with one line naming a changed file', async () => {
      const d = await createTestDatabase();
      try {
        // the recorded checksum no longer matches the file: as if the file had been edited since
        await d.sql`update schema_migrations set checksum = ${sha256('as applied')} where name = '005_batch_logs_commit_order.sql'`;
        const outcome = await run('npx', ['tsx', 'src/migrate/main.ts'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: d.url } }).then(
          () => null,
          (e: unknown) => e as { code: number; stderr: string },
        );
        expect(outcome?.code).toBe(1);
        expect(outcome!.stderr.trim().split('\n')).toEqual([
          expect.stringMatching(/^migrate failed: migration 005_batch_logs_commit_order\.sql was changed after it was applied: /),
        ]);
      } finally {
        await d.drop();
      }
    });
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
