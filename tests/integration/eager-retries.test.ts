/**
 * Eager activity execution keeps the retry policy: with the dev server handing a chunk straight back to the
 * worker that scheduled it (system.enableActivityEagerExecution), a chunk that fails is retried as its policy
 * says, after the delay it asked for, to its last attempt, and a non-retryable failure is not retried at all
 * (temporalio/temporal#11357 was eager activities losing their retries).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalEnv } from '../helpers/temporal.js';
import { executeBatch, withWorker } from '../helpers/workflow.js';
import { settings, StandInBatch } from '../workflow/stand-in-batch.js';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await createLocalEnv();
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

/** Each chunk's attempts: when each started (ms), keyed by the chunk's first profile. */
type Attempts = Map<string, number[]>;

function flaky(batch: StandInBatch, attempts: Attempts, failures: number, retryDelayMs: number) {
  return {
    ...batch.activities,
    checkChunk: async (input: Parameters<StandInBatch['activities']['checkChunk']>[0]) => {
      const key = input.profileIds[0]!;
      attempts.set(key, [...(attempts.get(key) ?? []), Date.now()]);
      if (Context.current().info.attempt <= failures) {
        throw ApplicationFailure.create({ type: 'UpstreamError', message: 'the source failed', nextRetryDelay: retryDelayMs });
      }
      return batch.activities.checkChunk(input);
    },
  };
}

describe('eager activities keep their retry policy (dev server with eager execution on)', () => {
  it('a failing chunk is retried after the delay it asked for, until it succeeds; nothing is checked twice', async () => {
    const batch = new StandInBatch(20);
    const attempts: Attempts = new Map();
    const result = await withWorker(env, { activities: flaky(batch, attempts, 2, 300) }, (taskQueue) =>
      executeBatch(env, taskQueue, { batchId: 'eager-retries', settings: settings({ concurrency: 2 }) }),
    );
    expect(result.outcome).toBe('done');
    expect(result.totals).toMatchObject({ successful: 20, failed: 0 });
    batch.expectEachCheckedOnce();
    expect(attempts.size).toBe(4);
    for (const times of attempts.values()) {
      expect(times).toHaveLength(3);
      // each retry waited the delay the failure asked for (less a little clock slack)
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(250);
      expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(250);
    }
  });

  it('a non-retryable failure is not retried: the batch ends as an error after one attempt', async () => {
    const batch = new StandInBatch(5);
    let calls = 0;
    const activities = {
      ...batch.activities,
      checkChunk: async () => {
        calls++;
        throw ApplicationFailure.create({ type: 'PoisonChunk', message: 'never again', nonRetryable: true });
      },
    };
    await expect(
      withWorker(env, { activities }, (taskQueue) => executeBatch(env, taskQueue, { batchId: 'eager-poison', settings: settings() })),
    ).rejects.toThrow();
    expect(calls).toBe(1);
  });
});
