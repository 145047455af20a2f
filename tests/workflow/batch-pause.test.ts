/**
 * BatchWorkflow paused, on Temporal's time-skipping server with stand-in activities (stand-in-batch.ts). A file
 * and a server of its own: this test lets a cancelled activity report after its workflow has closed, and the
 * time-skipping server then no longer skipped time for a later test's sleep on it.
 */
import { describe, expect, it } from 'vitest';
import { pauseSignal } from '../../workflows/signals.js';
import { waitFor } from '../helpers/wait.js';
import { executeBatch, startBatch, timeSkippingServer, withWorker } from '../helpers/workflow.js';
import { gate, settings, StandInBatch } from './stand-in-batch.js';

const server = timeSkippingServer();

describe('BatchWorkflow paused (time-skipping, stand-in activities)', () => {
  it('a pause signal stops new chunks at once; a resumed run checks only what is left', async () => {
    const batch = new StandInBatch(40);
    await withWorker(server.env, { activities: batch.activities, bundle: server.bundle }, async (taskQueue) => {
      // two chunks answered, the third held up upstream when the pause arrives
      batch.holdUp = { after: 2, until: gate().promise };
      // heartbeats often enough for the held-up chunk to hear of its cancellation soon
      const paused = settings({ heartbeatTimeoutMs: 2_000 });
      const handle = await startBatch(server.env, taskQueue, { batchId: 'paused', settings: paused });
      await waitFor(async () => batch.chunksSent.length >= 3);
      await handle.signal(pauseSignal);
      const first = await handle.result();
      expect(first.outcome).toBe('paused');
      // the chunk in flight was let go, not waited for; nothing was sent after the pause
      expect(first.totals).toMatchObject({ successful: 10, chunks: 3 });
      expect(batch.chunksSent).toHaveLength(3);
      await waitFor(async () => batch.cancelledChunks === 1);

      batch.holdUp = null;
      const second = await executeBatch(server.env, taskQueue, { batchId: 'paused', settings: settings() });
      expect(second.outcome).toBe('done');
      expect(second.totals).toMatchObject({ successful: 30, failed: 0 });
      expect(batch.chunksSent).toHaveLength(9);
      batch.expectEachCheckedOnce();
      expect(batch.status).toBe('done');
    });
  });
});
