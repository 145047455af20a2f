/**
 * What a batch run shows in the Temporal Web UI, with the product's activities against real Postgres, the
 * simulator and a real forward proxy, on the time-skipping server (which keeps user metadata): a named batch
 * started by the queue workflow has its static summary, each chunk activity names its first and last
 * usernames as stored, and the current details show the stall Postgres records for a held queue, then the
 * finished count.
 */
import { describe, expect, it } from 'vitest';
import { batchWorkflowId, setQueuePaused } from '../../src/repos/queue.js';
import { batchQueueWorkflow } from '../../workflows/batch-queue.js';
import { progressQuery, queuePausedSignal } from '../../workflows/signals.js';
import { batchCounters, eventCounts, makeBatch, usernames } from '../helpers/stack.js';
import { withTimeSkippingStackWorker } from '../helpers/stack-worker.js';
import { waitFor } from '../helpers/wait.js';
import { activitySummaries, currentDetailsOf } from '../helpers/web-ui-metadata.js';
import { timeSkippingServer } from '../helpers/workflow.js';

const server = timeSkippingServer();

describe('a batch run described in the Web UI (time-skipping, real activities)', () => {
  it('summarised by the queue, its chunks by their usernames; a held queue shows as the stall Postgres records', async () => {
    const workerEnv = { CHECK_CHUNK_SIZE: '5', BATCH_CONCURRENCY: '1', BATCH_STALL_AFTER_MS: '1000' };
    await withTimeSkippingStackWorker(server, { proxies: 1, sim: { latencyMs: 100 }, env: workerEnv }, async (stack, taskQueue) => {
      const names = usernames(30);
      const batch = await makeBatch(stack, names, { name: 'Spring creators' });
      const queue = await server.env.client.workflow.start(batchQueueWorkflow, { taskQueue, workflowId: `queue-${taskQueue}`, args: [{}] });
      try {
        const child = server.env.client.workflow.getHandle(batchWorkflowId(batch.id));
        await waitFor(async () => ((await eventCounts(stack, batch.id)).STORY_CHECK_SUCCESS ?? 0) >= 5, { what: 'a chunk checked' });
        expect(await (await child.describe()).staticSummary()).toBe('Batch "Spring creators" · 30 profiles');
        expect((await activitySummaries(child))[0]).toBe(`5 profiles: @${names[0]} … @${names[4]}`);

        // held in Postgres with the signal lost: the run learns it at its next read, and re-reads while held;
        // held longer than BATCH_STALL_AFTER_MS (wall clock: the stall is noted with the real time), it is a stall
        await setQueuePaused(stack.db.sql, true);
        await waitFor(async () => (await child.query(progressQuery)).state === 'queue_paused', { what: 'queue held' });
        const details = await waitFor(
          async () => {
            await server.env.sleep('2 seconds');
            const text = await currentDetailsOf(child);
            return text.includes('**Stalled:**') && text;
          },
          { what: 'the stall shown', stepMs: 200 },
        );
        const { successful_checks: checked, stories_found: stories } = await batchCounters(stack, batch.id);
        expect(details).toBe(
          [
            'Batch "Spring creators" · 30 profiles',
            `**Queue held** · ${checked} / 30 checked (${Math.floor((checked * 100) / 30)}%)`,
            `${checked} successful · 0 failed · ${stories} ${stories === 1 ? 'story' : 'stories'} found · 0 chunks in flight`,
            '**Stalled:** the queue is paused',
          ].join('\n\n'),
        );

        await setQueuePaused(stack.db.sql, false);
        await child.signal(queuePausedSignal, false);
        expect((await child.result()).outcome).toBe('done');
        const done = await batchCounters(stack, batch.id);
        expect(done).toMatchObject({ status: 'done', successful_checks: 30 });
        expect(await currentDetailsOf(child)).toBe(
          [
            'Batch "Spring creators" · 30 profiles',
            '**Done** · 30 / 30 checked (100%)',
            `30 successful · 0 failed · ${done.stories_found} ${done.stories_found === 1 ? 'story' : 'stories'} found · 0 chunks in flight`,
          ].join('\n\n'),
        );
        // every chunk named by its first and last usernames as stored, in batch order (the chunk sent back while
        // the queue was held went again, with the same summary)
        const summaries = await activitySummaries(child);
        const chunks = Array.from({ length: 6 }, (_, i) => `5 profiles: @${names[i * 5]} … @${names[i * 5 + 4]}`);
        expect([...new Set(summaries)]).toEqual(chunks);
      } finally {
        await queue.terminate('test over');
      }
    });
  });
});
