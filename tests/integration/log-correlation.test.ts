/**
 * Log lines of a real worker (time-skipping Temporal, real Postgres, simulator and forward proxies), with the
 * SDK's own lines routed through the logger at DEBUG: every line written inside a chunk's activity carries the
 * batch and the activity's Temporal ids, and the waits a chunk expects (a rate limit, every proxy resting) are
 * benign failures the SDK logs at debug, never as an 'Activity failed' warning.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { batchSettings } from '../../activities/index.js';
import { onLogLine } from '../../src/logging/logger.js';
import { makeRunningBatch, usernames, type Stack, type StackOptions } from '../helpers/stack.js';
import { withTimeSkippingStackWorker } from '../helpers/stack-worker.js';
import { waitFor } from '../helpers/wait.js';
import { executeBatch, startBatch, timeSkippingServer } from '../helpers/workflow.js';

type Line = Record<string, unknown> & { level: string; msg: string };

// first in this process: the SDK's lines, debug included, go through the logger
const server = timeSkippingServer({ sdkLogLevel: 'DEBUG' });
let lines: Line[] = [];

beforeAll(() => {
  onLogLine((line) => lines.push(JSON.parse(line) as Line));
});

beforeEach(() => {
  lines = [];
});

const withWorker = <T>(options: StackOptions, fn: (stack: Stack, taskQueue: string) => Promise<T>) =>
  withTimeSkippingStackWorker(server, options, fn);

/** The SDK's 'Activity failed' lines of the chunks of one batch. */
const chunkFailures = (batchId: string) =>
  lines.filter((l) => l.msg === 'Activity failed' && l.activity_type === 'checkChunk' && l.workflow_id === `batch-${batchId}`);

describe('log lines of a real worker', () => {
  it('every line logged inside a chunk carries its batch_id, workflow_id, run_id, activity_id and attempt', async () => {
    await withWorker({ proxies: 2, env: { CHECK_CHUNK_SIZE: '5' } }, async (stack, taskQueue) => {
      const batch = await makeRunningBatch(stack, usernames(12));
      const result = await executeBatch(server.env, taskQueue, { batchId: batch.id, settings: batchSettings(stack.config) });
      expect(result.outcome).toBe('done');

      // the pool logs each slot it hands out, with the holder the activity named itself by
      const taken = lines.filter((l) => l.msg === 'proxy slot taken' && String(l.holder).startsWith(`batch-${batch.id}/`));
      expect(taken.length).toBeGreaterThanOrEqual(12);
      const activities = new Set<string>();
      for (const line of taken) {
        const [, workflowId, activityId, attempt] = /^(.+)\/(.+)#(\d+)$/.exec(String(line.holder))!;
        expect(line).toMatchObject({
          level: 'debug',
          batch_id: batch.id,
          workflow_id: workflowId,
          run_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
          activity_id: activityId,
          activity_type: 'checkChunk',
          attempt: Number(attempt),
        });
        activities.add(activityId!);
      }
      // three chunks of up to five profiles
      expect(activities.size).toBe(3);
      // lines written outside any activity carry none of it
      const outside = lines.filter((l) => l.msg !== 'proxy slot taken' && l.component !== 'temporal-sdk' && !('activity_id' in l));
      for (const line of outside) expect(line).not.toHaveProperty('batch_id', batch.id);
    });
  });

  it('a rate-limited run retries its chunks as benign failures: debug lines, no Activity failed warning', async () => {
    // eight proxies (as many as one request may try) all rate limited: the chunk fails as RateLimited; later
    // attempts find every proxy resting (NothingCanBeSent) until the rests are over
    await withWorker({ proxies: 8, sim: { rateLimitShare: 1, retryAfter: 1 }, env: { CHECK_CHUNK_SIZE: '5', BATCH_CONCURRENCY: '1' } }, async (stack, taskQueue) => {
      const batch = await makeRunningBatch(stack, usernames(6));
      const handle = await startBatch(server.env, taskQueue, { batchId: batch.id, settings: batchSettings(stack.config) });
      await waitFor(async () => chunkFailures(batch.id).some((l) => (l.error as { failure_type?: string }).failure_type === 'RateLimited'), {
        timeoutMs: 60_000,
        what: 'a chunk failing as RateLimited',
      });
      stack.sim.setOptions({ rateLimitShare: 0 });
      expect((await handle.result()).outcome).toBe('done');

      const failures = chunkFailures(batch.id);
      expect(failures.filter((l) => l.level !== 'debug')).toEqual([]);
      const types = new Set(failures.map((l) => (l.error as { failure_type?: string }).failure_type));
      expect(types.has('RateLimited')).toBe(true);
      for (const line of failures) {
        expect(line).toMatchObject({
          level: 'debug',
          component: 'temporal-sdk',
          batch_id: batch.id,
          workflow_id: `batch-${batch.id}`,
          run_id: expect.any(String),
          activity_id: expect.any(String),
          attempt: expect.any(Number),
          task_queue: taskQueue,
          namespace: 'default',
          error: { type: 'ApplicationFailure', category: 'BENIGN' },
        });
        expect(['RateLimited', 'NothingCanBeSent', 'ProxiesBusy']).toContain((line.error as { failure_type: string }).failure_type);
        expect(line).not.toHaveProperty('taskToken');
        expect(line).not.toHaveProperty('workflowId');
      }
      // the pool's warning about each rate limit is one of the chunk's lines
      const limited = lines.filter((l) => l.msg === 'proxy rate limited, cooling down');
      expect(limited.length).toBeGreaterThanOrEqual(8);
      for (const line of limited) expect(line).toMatchObject({ level: 'warn', batch_id: batch.id, workflow_id: `batch-${batch.id}`, activity_type: 'checkChunk' });
      // and no warning from the SDK about any activity (the worker's start-up may warn about the test server)
      expect(lines.filter((l) => l.component === 'temporal-sdk' && l.level !== 'debug' && l.level !== 'info' && 'activity_id' in l)).toEqual([]);
      expect(lines.filter((l) => l.msg === 'Activity failed' && l.level !== 'debug')).toEqual([]);
    });
  });
});
