// The Temporal SDK's log metadata as the fields of our lines: the correlation names our own lines use.
import { describe, expect, it } from 'vitest';
import { sdkFields } from '../../src/process/temporal-runtime.js';

describe('sdkFields', () => {
  it("names an activity's metadata as our correlation fields and drops its task token", () => {
    const error = new Error('boom');
    const fields = sdkFields({
      isLocal: false,
      attempt: 3,
      namespace: 'default',
      taskToken: 'Q2lRd1pqQmpaR1EwWlMwM',
      activityId: '7',
      activityType: 'checkChunk',
      taskQueue: 'storycheck',
      workflowId: 'batch-1',
      workflowRunId: 'run-1',
      workflowType: 'batchWorkflow',
      sdkComponent: 'worker',
      durationMs: 12n,
      error,
    });
    expect(fields).toEqual({
      is_local: false,
      attempt: 3,
      namespace: 'default',
      activity_id: '7',
      activity_type: 'checkChunk',
      task_queue: 'storycheck',
      workflow_id: 'batch-1',
      run_id: 'run-1',
      workflow_type: 'batchWorkflow',
      sdk_component: 'worker',
      durationMs: '12',
      error,
    });
  });

  it("names a workflow's run id the same way", () => {
    expect(sdkFields({ workflowId: 'w', runId: 'r', workflowType: 't', nested: { at: 1n } })).toEqual({
      workflow_id: 'w',
      run_id: 'r',
      workflow_type: 't',
      nested: { at: '1' },
    });
  });
});
