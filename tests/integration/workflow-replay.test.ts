/**
 * Histories recorded from real batches (tests/fixtures/histories, see record.ts there) replay against the
 * current workflow code: a change to the batch workflow that would break runs already in flight (a different
 * sequence of commands for the same events) fails here with a DeterminismViolationError.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { readHistoryFile } from '../fixtures/histories/history-file.js';
import { quietTemporalRuntime } from '../helpers/temporal.js';
import { sharedWorkflowBundle } from '../helpers/workflow-bundle.js';

const dir = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));
const recorded = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  quietTemporalRuntime();
  bundle = sharedWorkflowBundle();
});

describe('batch workflow replay', () => {
  it('has recorded histories to replay', () => {
    expect(recorded).toEqual(
      expect.arrayContaining([
        'small-batch-done.json',
        'paused-during-rest.json',
        'queue-held-then-resumed.json',
        'continue-as-new-first-run.json',
        'continue-as-new-last-run.json',
      ]),
    );
  });

  it('replays every recorded history without a determinism violation', async () => {
    const histories = await Promise.all(
      recorded.map(async (file) => ({ workflowId: file.replace(/\.json$/, ''), history: await readHistoryFile(`${dir}${file}`) })),
    );
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle, replayName: 'batch-workflow-replay' }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
  });
});
