/**
 * What a batch run shows in the Temporal Web UI, read back through the public client as the UI reads it: the
 * static summary and details the queue gives the batch's workflow, each chunk activity's summary in history,
 * and the current details (the `__temporal_workflow_metadata` query). On the time-skipping server, which
 * keeps user metadata, with stand-in activities (stand-in-batch.ts) behind the real queue workflow.
 */
import { describe, expect, it } from 'vitest';
import { batchQueueWorkflow } from '../../workflows/batch-queue.js';
import { queuePausedSignal } from '../../workflows/signals.js';
import type { ClaimedBatch } from '../../activities/types.js';
import { waitFor } from '../helpers/wait.js';
import { activitySummaries, currentDetailsOf } from '../helpers/web-ui-metadata.js';
import { startBatch, timeSkippingServer, withWorker } from '../helpers/workflow.js';
import { gate, settings, StandInBatch } from './stand-in-batch.js';

const server = timeSkippingServer();


describe('a batch run described in the Web UI (time-skipping, stand-in activities)', () => {
  it('the queue gives it a static summary; chunks are summarised by size and usernames; current details follow progress and stall', async () => {
    const batch = new StandInBatch(1_200);
    batch.stalledReason = 'no_usable_proxy';
    const claim: ClaimedBatch = {
      batchId: '0d9c51e2-7f1a-4c3b-9a8e-5b6c7d8e9f01',
      name: 'Spring creators',
      run: 2,
      totalProfiles: 1_200,
      workflowId: 'batch-0d9c51e2-7f1a-4c3b-9a8e-5b6c7d8e9f01',
      // a run of 800 profiles, then one continued as new with the 400 left
      settings: settings({ chunkSize: 50, concurrency: 2, profilesPerRun: 800 }),
    };
    let claims = 0;
    const queueActivities = {
      claimNextBatch: async (): Promise<ClaimedBatch | null> => (claims++ === 0 ? claim : null),
      failBatch: async ({ message }: { batchId: string; message: string }): Promise<void> => {
        throw new Error(`the batch was failed: ${message}`);
      },
    };
    await withWorker(server.env, { activities: { ...batch.activities, ...queueActivities }, bundle: server.bundle }, async (taskQueue) => {
      // two chunks checked, the next two held up upstream
      const upstream = gate();
      batch.holdUp = { after: 2, until: upstream.promise };
      const queue = await server.env.client.workflow.start(batchQueueWorkflow, { taskQueue, workflowId: `queue-${taskQueue}`, args: [{}] });
      try {
        const child = server.env.client.workflow.getHandle(claim.workflowId);
        await waitFor(async () => batch.chunksSent.length >= 4);

        const first = await child.describe();
        expect(await first.staticSummary()).toBe('Batch "Spring creators" · 1,200 profiles');
        const staticDetails = await first.staticDetails();
        expect(staticDetails).toContain('**Batch** `0d9c51e2-7f1a-4c3b-9a8e-5b6c7d8e9f01`');
        expect(staticDetails).toContain('**Run** 2');
        expect(staticDetails).toContain('50 profiles per request, up to 2 requests at once');

        await waitFor(async () => (await currentDetailsOf(child)).includes('100 / 1,200'), { what: 'two chunks counted' });
        expect(await currentDetailsOf(child)).toBe(
          [
            'Batch "Spring creators" · 1,200 profiles',
            '**Running** · 100 / 1,200 checked (8%)',
            '100 successful · 0 failed · 33 stories found · 2 chunks in flight',
            '**Stalled:** no usable proxy (every proxy is disabled or resting)',
          ].join('\n\n'),
        );
        expect(await activitySummaries(child)).toEqual([
          '50 profiles: @user_1 … @user_50',
          '50 profiles: @user_51 … @user_100',
          '50 profiles: @user_101 … @user_150',
          '50 profiles: @user_151 … @user_200',
        ]);

        // the stall is gone at the next page read; two more chunks checked, the next two held up
        batch.stalledReason = null;
        const upstreamAgain = gate();
        batch.holdUp = { after: 6, until: upstreamAgain.promise };
        upstream.open();
        await waitFor(async () => batch.chunksSent.length >= 8 && (await currentDetailsOf(child)).includes('300 / 1,200'), { what: 'six chunks counted' });
        expect(await currentDetailsOf(child)).toBe(
          [
            'Batch "Spring creators" · 1,200 profiles',
            '**Running** · 300 / 1,200 checked (25%)',
            '300 successful · 0 failed · 100 stories found · 2 chunks in flight',
          ].join('\n\n'),
        );
        // a queue held and released shows at once, by its signals
        await child.signal(queuePausedSignal, { paused: true, version: 1 });
        await waitFor(async () => (await currentDetailsOf(child)).includes('**Queue held** · 300 / 1,200 checked (25%)'), { what: 'queue held shown' });
        await child.signal(queuePausedSignal, { paused: false, version: 2 });
        await waitFor(async () => (await currentDetailsOf(child)).includes('**Running**'), { what: 'running shown again' });

        batch.holdUp = null;
        upstreamAgain.open();
        const continued = await waitFor(async () => {
          const desc = await child.describe();
          return desc.runId !== first.runId && desc;
        });
        // continue-as-new cannot carry a static summary: the current details lead with the same line
        expect(await continued.staticSummary()).toBeUndefined();

        const result = await child.result();
        expect(result.outcome).toBe('done');
        expect(result.totals).toMatchObject({ successful: 1_200, runs: 2 });
        batch.expectEachCheckedOnce();
        expect(await currentDetailsOf(child)).toBe(
          [
            'Batch "Spring creators" · 1,200 profiles',
            '**Done** · 1,200 / 1,200 checked (100%)',
            '1,200 successful · 0 failed · 400 stories found · 0 chunks in flight',
          ].join('\n\n'),
        );
        const secondRun = await activitySummaries(child);
        expect(secondRun).toHaveLength(8);
        expect(secondRun[0]).toBe('50 profiles: @user_801 … @user_850');
        expect(secondRun[7]).toBe('50 profiles: @user_1151 … @user_1200');
      } finally {
        await queue.terminate('test over');
      }
    });
  });

  it('a batch started again after a pause counts what its earlier runs checked', async () => {
    const batch = new StandInBatch(20);
    // checked before the pause, by the batch's first workflow
    for (let n = 1; n <= 10; n++) batch.checked.set(`p${n}`, 1);
    await withWorker(server.env, { activities: batch.activities, bundle: server.bundle }, async (taskQueue) => {
      const label = { batchId: 'resumed', name: 'Resumed', totalProfiles: 20 };
      const handle = await startBatch(server.env, taskQueue, { batchId: 'resumed', settings: settings(), label });
      const result = await handle.result();
      expect(result.totals).toMatchObject({ successful: 10, storiesFound: 3 });
      expect(await currentDetailsOf(handle)).toBe(
        [
          'Batch "Resumed" · 20 profiles',
          '**Done** · 20 / 20 checked (100%)',
          '20 successful · 0 failed · 6 stories found · 0 chunks in flight',
        ].join('\n\n'),
      );
      expect(await activitySummaries(handle)).toEqual(['5 profiles: @user_11 … @user_15', '5 profiles: @user_16 … @user_20']);
    });
  });

  it('a chunk paged without usernames (recorded before chunks carried them) is summarised by its size', async () => {
    const batch = new StandInBatch(7);
    const loadChunks = batch.activities.loadChunks;
    const activities = {
      ...batch.activities,
      // as pages recorded before: no usernames, no stall, no counters
      loadChunks: async (input: Parameters<typeof loadChunks>[0]) => {
        const { chunks, status, queuePaused, usableProxies } = await loadChunks(input);
        return { chunks: chunks.map(({ profileIds, lastOrdinal }) => ({ profileIds, lastOrdinal })), status, queuePaused, usableProxies };
      },
    };
    await withWorker(server.env, { activities, bundle: server.bundle }, async (taskQueue) => {
      const handle = await startBatch(server.env, taskQueue, { batchId: 'unlabelled', settings: settings({ chunkSize: 6 }) });
      await handle.result();
      expect(await activitySummaries(handle)).toEqual(['6 profiles', '1 profile']);
      // no label, no stored counters: the run's own counts, without a total
      expect(await currentDetailsOf(handle)).toBe(['**Done** · 7 checked', '7 successful · 0 failed · 2 stories found · 0 chunks in flight'].join('\n\n'));
    });
  });
});
