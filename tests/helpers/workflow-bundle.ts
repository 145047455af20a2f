/**
 * The workflow code bundled once for the whole test run (by the global setup), not once per file or per
 * worker: every in-process worker loads it, and every worker process gets it through WORKFLOW_BUNDLE. The
 * file is named after the sources it was built from, so a run after a change never loads an older bundle.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { inject } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIRECTORY = join(tmpdir(), 'storycheck-test-workflow-bundles');
const DAY_MS = 86_400_000;

declare module 'vitest' {
  export interface ProvidedContext {
    /** The path of the run's workflow bundle (its source map beside it, `.map`). */
    workflowBundlePath: string;
  }
}

/** Every source the bundle may hold: the workflows, what they import, and the installed packages' versions. */
function sourcesDigest(): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.tsx?$/.test(entry.name)) hash.update(relative(ROOT, path)).update(readFileSync(path));
    }
  };
  for (const dir of ['workflows', 'activities', 'src']) walk(join(ROOT, dir));
  hash.update(readFileSync(join(ROOT, 'package-lock.json')));
  return hash.digest('hex').slice(0, 16);
}

/** For the global setup: the bundle of today's sources, built unless an earlier run left it. */
export async function ensureSharedWorkflowBundle(): Promise<string> {
  mkdirSync(DIRECTORY, { recursive: true });
  const path = join(DIRECTORY, `workflows-${sourcesDigest()}.js`);
  if (!existsSync(path) || !existsSync(`${path}.map`)) {
    // imported here: the bundler is heavy, and test files only read what it wrote
    const { bundleWorkflows, writeWhole } = await import('../../src/worker/workflow-bundle.js');
    const { code, sourceMap } = await bundleWorkflows();
    // the map first: a bundle present means its map is too (two setups may write at once; each file is whole)
    writeWhole(`${path}.map`, JSON.stringify(sourceMap));
    writeWhole(path, code);
  }
  removeOldBundles(path);
  return path;
}

/** Bundles of earlier sources, after a day (several checkouts may share the directory meanwhile). */
function removeOldBundles(keep: string): void {
  for (const name of readdirSync(DIRECTORY)) {
    const path = join(DIRECTORY, name);
    if (path === keep || path === `${keep}.map`) continue;
    try {
      if (Date.now() - statSync(path).mtimeMs > DAY_MS) rmSync(path, { force: true });
    } catch {
      // removed by another run meanwhile
    }
  }
}

/** The run's bundle path (for WORKFLOW_BUNDLE of worker processes). */
export function sharedWorkflowBundlePath(): string {
  return inject('workflowBundlePath');
}

let loaded: WorkflowBundleWithSourceMap | undefined;

/** The run's bundle, read once per test file. */
export function sharedWorkflowBundle(): WorkflowBundleWithSourceMap {
  const path = sharedWorkflowBundlePath();
  loaded ??= { code: readFileSync(path, 'utf8'), sourceMap: JSON.parse(readFileSync(`${path}.map`, 'utf8')) };
  return loaded;
}
