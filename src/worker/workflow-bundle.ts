/**
 * The workflow code bundled ahead of a worker's start. A worker otherwise bundles it (webpack) each time it
 * starts, seconds of CPU before it polls: with a bundle built once (`npm run bundle:workflows`, the Docker
 * image, the test run) and WORKFLOW_BUNDLE naming it, a worker that replaces a crashed one polls sooner.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

/** The module that exports every workflow the worker registers. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

/**
 * The workflows bundled now, in memory, with their source map. The bundler's progress lines are dropped; its
 * errors go to `onError` (stderr by default).
 */
export function bundleWorkflows(onError: (message: string) => void = console.error): Promise<WorkflowBundleWithSourceMap> {
  const logger = { warn() {}, info() {}, debug() {}, trace() {}, log() {}, error: onError };
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger });
}

/** Writes `text` to `path` whole or not at all: beside it first, then renamed over it (a rename is atomic). */
export function writeWhole(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, text);
  renameSync(partial, path);
}

/** Bundles the workflows into `path`, for WORKFLOW_BUNDLE. */
export async function writeWorkflowBundle(path: string): Promise<void> {
  writeWhole(path, (await bundleWorkflows()).code);
}
