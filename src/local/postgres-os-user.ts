/**
 * The OS user an embedded Postgres runs as. Postgres refuses to run as root, so a root launcher runs it as an
 * unprivileged user (`postgres` by default): created when missing, `nobody` when that fails too.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { userInfo } from 'node:os';

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
export function runsAs(user: OsUser, cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { uid: user.uid, gid: user.gid, stdio: 'ignore' }).status === 0;
}

/** Whether `user` may enter `dir` (and so reach what lies in it): every directory on its path lets it through. */
export function entersAs(user: OsUser, dir: string): boolean {
  return runsAs(user, 'test', ['-x', dir]);
}
