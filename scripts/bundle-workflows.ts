/**
 * `npm run bundle:workflows [path]`: bundles the workflow code into a file (default .build/workflows.js) that a
 * worker loads at start when WORKFLOW_BUNDLE names it, instead of bundling it itself.
 */
import { resolve } from 'node:path';
import { writeWorkflowBundle } from '../src/worker/workflow-bundle.js';

const path = resolve(process.argv[2] ?? '.build/workflows.js');
await writeWorkflowBundle(path);
console.log(`workflow bundle: ${path} (start workers with WORKFLOW_BUNDLE=${path})`);
