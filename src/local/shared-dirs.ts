/**
 * Directories outside the checkout for an embedded Postgres started by root whose server user cannot reach
 * the checkout (a clone under /root, or under any directory private to root): a copy of the binaries in a
 * cache, and the data under a directory of that user's own. Both lie under roots that root owns and nobody
 * else may write to, so what the server runs and keeps cannot be swapped by another user.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface SharedDirs {
  /** Where copies of the binaries go, one directory per platform and version (regenerable: a cache). */
  binaries: string;
  /** Where data directories that cannot stay where they were asked for go (state: kept between runs). */
  data: string;
}

export const DEFAULT_SHARED_DIRS: SharedDirs = {
  binaries: '/var/cache/storycheck/embedded-postgres',
  data: '/var/lib/storycheck/embedded-postgres',
};

/**
 * Creates `dir` and its missing parents readable and enterable by all (0755, whatever the umask), and checks
 * that it belongs to root and that no one else may write to it. Returns `dir`.
 */
export function rootOwnedDir(dir: string): string {
  const firstCreated = mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (firstCreated) {
    // a umask of 077 would have left them private: the server's user must enter every one
    for (let d = dir; d.length >= firstCreated.length; d = dirname(d)) chmodSync(d, 0o755);
  }
  const stat = statSync(dir);
  if (stat.uid !== 0 || (stat.mode & 0o022) !== 0) {
    throw new Error(
      `${dir} must belong to root and be writable by root alone (it holds what the embedded Postgres runs and keeps); ` +
        `it belongs to uid ${stat.uid} with mode ${(stat.mode & 0o777).toString(8)}`,
    );
  }
  return dir;
}

/**
 * The directory a data directory moves to when the server's user cannot reach `requested`: one per requested
 * path (the same path gives the same place on every run, so the data is kept), named so that a person can
 * tell which checkout it belongs to. The data directory itself is `<home>/data`.
 */
export function relocatedDataHome(requested: string, dataRoot: string): string {
  const path = resolve(requested);
  const hash = createHash('sha256').update(path).digest('hex').slice(0, 12);
  const readable = path.replace(/[^A-Za-z0-9._]+/g, '-').replace(/^-+|-+$/g, '').slice(-60);
  return join(dataRoot, `${readable}-${hash}`);
}

export function relocatedDataDir(requested: string, dataRoot: string): string {
  return join(relocatedDataHome(requested, dataRoot), 'data');
}
