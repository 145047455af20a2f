/**
 * The workflow code bundled ahead of a worker's start. A worker otherwise bundles it (webpack) each time it
 * starts, seconds of CPU before it polls: with a bundle built once (`npm run bundle:workflows`, the Docker
 * image, the test run) and WORKFLOW_BUNDLE naming it, a worker that replaces a crashed one polls sooner.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH } from './worker.js';

const quiet = { warn() {}, info() {}, debug() {}, error: console.error, trace() {}, log() {} };

/** The workflows bundled now, in memory. */
export async function bundleWorkflows(): Promise<{ code: string }> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quiet });
  return { code };
}

/** Bundles the workflows into `path`, whole or not at all (written beside it, then renamed over it). */
export async function writeWorkflowBundle(path: string): Promise<void> {
  const { code } = await bundleWorkflows();
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, code);
  renameSync(partial, path);
}
