/**
 * The embedded Postgres (src/local/embedded-postgres.ts) that stands in when a machine has none: the test
 * suite's own global setup starts one at the test server's address when nothing answers there, and as root
 * the server runs as an unprivileged OS user, created when missing. (`npm run dev` on it: tests/e2e/dev.test.ts.)
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, stopLeftoverPostgres, type EmbeddedPostgres } from '../../src/local/embedded-postgres.js';
import { freePort, portAnswers } from '../../src/local/ports.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const IS_ROOT = userInfo().uid === 0;
const folders: string[] = [];
const servers: EmbeddedPostgres[] = [];
const usersCreated: string[] = [];

/** A fresh folder the server's user may enter, holding the data directory. */
function dataDirectory(): string {
  const root = mkdtempSync(join(tmpdir(), 'storycheck-embedded-'));
  chmodSync(root, 0o755);
  folders.push(root);
  return join(root, 'data');
}

async function start(options: { dataDir: string; port?: number; osUser?: string; log?: (line: string) => void }): Promise<EmbeddedPostgres> {
  const server = await startEmbeddedPostgres({ durable: false, ...options, port: options.port ?? (await freePort()) });
  servers.push(server);
  return server;
}

/** The real uid the process runs as (Linux /proc). */
function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'))!;
  return Number(line.split(/\s+/)[1]);
}

async function query<T extends object>(url: string, text: string): Promise<T[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return (await sql.unsafe(text)) as unknown as T[];
  } finally {
    await sql.end({ timeout: 5 });
  }
}

afterAll(async () => {
  for (const server of servers) await server.stop().catch(() => {});
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  for (const name of usersCreated) spawnSync('userdel', [name]);
});

describe('the embedded Postgres', () => {
  it('keeps its data across a stop and a start, answers with no password, and leaves the port closed when stopped', async () => {
    const dataDir = dataDirectory();
    const first = await start({ dataDir });
    expect(first.initialised).toBe(true);
    await query(first.urlFor('postgres'), "create table kept (note text); insert into kept values ('still here')");
    await first.stop();
    expect(await portAnswers('127.0.0.1', first.port)).toBe(false);

    const second = await start({ dataDir, port: first.port });
    expect(second.initialised).toBe(false);
    expect(await query(second.urlFor('postgres'), 'select note from kept')).toEqual([{ note: 'still here' }]);
    // the same order and case rules as a C.UTF-8 cluster, whatever locales the machine has
    expect(await query(second.urlFor('postgres'), "select upper('é') as up, current_setting('server_encoding') as enc")).toEqual([{ up: 'É', enc: 'UTF8' }]);
    await second.stop();
  });

  it('a server left running by a launcher killed with SIGKILL is found by its data directory and stopped', async () => {
    const dataDir = dataDirectory();
    const port = await freePort();
    // a launcher of its own, which starts the server and is then killed before it can stop it
    const script = `import('./src/local/embedded-postgres.ts').then(async (m) => { await m.startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: ${port}, durable: false }); console.log('up'); setInterval(() => {}, 1000); })`;
    const launcher = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['-e', script], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      launcher.stdout.on('data', (c: Buffer) => c.toString().includes('up') && resolve());
      launcher.once('exit', (code) => reject(new Error(`the launcher exited (${code}) before the server was up`)));
    });
    // the whole launcher (tsx runs the script in a node child of its own), as kill -9 of a terminal's job would
    process.kill(-launcher.pid!, 'SIGKILL');
    await new Promise((resolve) => launcher.once('exit', resolve));
    // the server outlives it (a process group of its own, so that a Ctrl-C reaches only the launcher)
    expect(await portAnswers('127.0.0.1', port)).toBe(true);

    const lines: string[] = [];
    expect(await stopLeftoverPostgres(join(dataDirectory(), 'data'), (l) => lines.push(l))).toBe(false);
    expect(await stopLeftoverPostgres(dataDir, (l) => lines.push(l))).toBe(true);
    expect(await portAnswers('127.0.0.1', port)).toBe(false);
    expect(lines).toEqual([expect.stringMatching(/^stopping an embedded Postgres left running by an earlier run \(pid \d+\)$/)]);
    // and it starts again on the same data
    const again = await start({ dataDir, port });
    expect(again.initialised).toBe(false);
    await again.stop();
  });

  it.runIf(IS_ROOT)('as root, runs as an OS user it creates when that user is missing, and says so', async () => {
    const name = `sc-pg-${randomBytes(3).toString('hex')}`;
    usersCreated.push(name);
    const lines: string[] = [];
    const dataDir = dataDirectory();
    const server = await start({ dataDir, osUser: name, log: (line) => lines.push(line) });
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    expect(uid).toBeGreaterThan(0);
    expect(server.osUser).toBe(name);
    expect(uidOf(server.pid)).toBe(uid);
    expect(statSync(dataDir).uid).toBe(uid);
    expect(lines.filter((l) => l.includes(`created the OS user ${name}`))).toHaveLength(1);
    await server.stop();
  });

  it.runIf(IS_ROOT)('as root, runs as nobody when the OS user can be neither found nor created', async () => {
    const lines: string[] = [];
    // useradd refuses a name with a space
    const server = await start({ dataDir: dataDirectory(), osUser: 'no such user', log: (line) => lines.push(line) });
    const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
    expect(server.osUser).toBe('nobody');
    expect(uidOf(server.pid)).toBe(nobody);
    expect(lines.some((l) => l.startsWith('no OS user no such user and it could not be created') && l.includes('running the embedded Postgres as nobody'))).toBe(true);
    expect(await query(server.urlFor('postgres'), 'select 1 as one')).toEqual([{ one: 1 }]);
    await server.stop();
  });
});

describe('npm test on a machine with no Postgres', () => {
  it('starts an embedded Postgres at the test server address, runs the tests on it, and stops it', async () => {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, TEST_DATABASE_ADMIN_URL: `postgres://postgres@127.0.0.1:${port}/postgres`, NO_COLOR: '1' };
    // a vitest inside this one must not take the outer run's worker settings for its own
    for (const name of Object.keys(env)) if (name.startsWith('VITEST')) delete env[name];
    const child = spawn(join(ROOT, 'node_modules/.bin/vitest'), ['run', 'tests/integration/migrations.test.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, out).toBe(0);
    expect(out).toContain(`no Postgres answered at 127.0.0.1:${port}: the tests run on an embedded Postgres there`);
    // every test of the file passed (a failure would read "Tests  1 failed | ...")
    expect(out).toMatch(/Tests +\d+ passed \(\d+\)/);
    // stopped at the end
    expect(await portAnswers('127.0.0.1', port)).toBe(false);
  }, 120_000);
});
