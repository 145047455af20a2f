/**
 * BatchWorkflow's own decisions, on Temporal's time-skipping server with stand-in activities (stand-in-batch.ts,
 * no Postgres, no upstream): a held queue, and continue-as-new every few profiles.
 */
import { describe, expect, it } from 'vitest';
import { progressQuery, queuePausedSignal } from '../../workflows/signals.js';
import { waitFor } from '../helpers/wait.js';
import { executeBatch, startBatch, timeSkippingServer, withWorker } from '../helpers/workflow.js';
import { gate, settings, StandInBatch } from './stand-in-batch.js';

const server = timeSkippingServer();

describe('BatchWorkflow with stand-in activities (time-skipping)', () => {
  it('a held queue keeps the batch from sending, re-reading the batch meanwhile; released, it finishes exactly', async () => {
    const batch = new StandInBatch(30);
    await withWorker(server.env, { activities: batch.activities, bundle: server.bundle }, async (taskQueue) => {
      // two chunks checked, the third on its way upstream when the queue is held
      const upstream = gate();
      batch.holdUp = { after: 2, until: upstream.promise };
      const handle = await startBatch(server.env, taskQueue, { batchId: 'held', settings: settings({ heldRecheckMs: 10 * 60_000 }) });
      await waitFor(async () => batch.chunksSent.length >= 3);
      // held as the API does it: the stored state first, then the signal; the third chunk comes back deferred
      batch.queuePaused = true;
      await handle.signal(queuePausedSignal, { paused: true, version: 1 });
      batch.holdUp = null;
      upstream.open();
      await waitFor(async () => (await handle.query(progressQuery)).state === 'queue_paused');
      const readsWhenHeld = batch.pageReads.length;

      await server.env.sleep('1 hour');
      expect(batch.checked.size).toBe(10);
      // re-read every 10 minutes of the workflow's clock
      expect(batch.pageReads.length - readsWhenHeld).toBeGreaterThanOrEqual(5);
      expect((await handle.query(progressQuery)).state).toBe('queue_paused');

      batch.queuePaused = false;
      await handle.signal(queuePausedSignal, { paused: false, version: 2 });
      const result = await handle.result();
      expect(result.outcome).toBe('done');
      expect(result.totals).toMatchObject({ successful: 30, failed: 0, storiesFound: batch.storiesExpected });
      batch.expectEachCheckedOnce();
    });
  });

  it('continues-as-new every profilesPerRun profiles, carrying its cursor and totals, with exact totals at the end', async () => {
    const batch = new StandInBatch(50);
    await withWorker(server.env, { activities: batch.activities, bundle: server.bundle }, async (taskQueue) => {
      const result = await executeBatch(server.env, taskQueue, { batchId: 'long', settings: settings({ profilesPerRun: 20 }) });
      expect(result.outcome).toBe('done');
      // 20 + 20 + 10 profiles (a run hands out pages of 4 chunks of 5), one request per chunk
      expect(result.totals).toEqual({ successful: 50, failed: 0, storiesFound: batch.storiesExpected, requests: 10, chunks: 10, runs: 3 });
      batch.expectEachCheckedOnce();
      // each run paged on from where the one before had handed out its share
      const runs = [...new Set(batch.pageReads.map((r) => r.runId))];
      expect(runs).toHaveLength(3);
      expect(runs.map((run) => batch.pageReads.find((r) => r.runId === run)!.afterOrdinal)).toEqual([0, 20, 40]);
    });
  });
});
