/**
 * BatchWorkflow told that the pool changed (`poolChanged`), on Temporal's time-skipping server with stand-in
 * activities (stand-in-batch.ts): a chunk waiting out an hour-long retry delay (every proxy resting) is sent
 * again at once, and a chunk that is running when the signal comes is not abandoned: its answer counts once.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { describe, expect, it } from 'vitest';
import type { BatchRunActivities } from '../../workflows/batch-run.js';
import { poolChangedSignal } from '../../workflows/signals.js';
import { waitFor } from '../helpers/wait.js';
import { startBatch, timeSkippingServer, withWorker } from '../helpers/workflow.js';
import { gate, settings, StandInBatch } from './stand-in-batch.js';

const server = timeSkippingServer();

const HOUR_MS = 3_600_000;

/** One call of the chunk activity: which chunk (its first profile) and when it ran, on the server's clock. */
interface Send {
  first: string;
  ranAtMs: number;
}

/**
 * The batch's activities with a pool in front of the checks: while `pool.empty`, a chunk can send nothing and
 * fails as the product's does (a retryable failure whose retry waits for the end of the earliest rest, an
 * hour here). `holdFirst` keeps the first chunk running (heartbeating, deaf to a plain cancellation, as the
 * product's chunk is) until it opens.
 */
function pooledActivities(batch: StandInBatch, holdFirst?: Promise<void>) {
  const pool = { empty: true };
  const sends: Send[] = [];
  const activities: BatchRunActivities = {
    ...batch.activities,
    checkChunk: async (input) => {
      const first = input.profileIds[0]!;
      sends.push({ first, ranAtMs: await server.env.currentTimeMs() });
      if (holdFirst && first === 'p1') await runningUntil(holdFirst);
      else if (pool.empty) {
        throw ApplicationFailure.create({ type: 'NothingCanBeSent', message: 'every proxy is resting', nextRetryDelay: HOUR_MS });
      }
      return batch.activities.checkChunk(input);
    },
  };
  return { pool, sends, activities };
}

/** Heartbeats until `until`, ignoring a cancellation (the product's chunk goes on to persist what it asked). */
async function runningUntil(until: Promise<void>): Promise<void> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 100);
  try {
    await until;
  } finally {
    clearInterval(beat);
  }
}

describe('BatchWorkflow and poolChanged (time-skipping, stand-in activities)', () => {
  it('sends a chunk waiting out an hour-long retry delay again within seconds of workflow time', async () => {
    const batch = new StandInBatch(10);
    const { pool, sends, activities } = pooledActivities(batch);
    await withWorker(server.env, { activities, bundle: server.bundle }, async (taskQueue) => {
      const handle = await startBatch(server.env, taskQueue, { batchId: 'pool-wait', settings: settings() });
      // the first chunk found nothing to send: its next attempt is an hour away
      await waitFor(async () => sends.length === 1);

      pool.empty = false;
      const signalledAtMs = await server.env.currentTimeMs();
      await handle.signal(poolChangedSignal);
      // waiting for the result lets the server skip time: without the signal the hour would pass here
      const result = await handle.result();

      expect(result.outcome).toBe('done');
      expect(result.totals).toMatchObject({ successful: 10, failed: 0 });
      batch.expectEachCheckedOnce();
      const again = sends.filter((s) => s.first === 'p1')[1]!;
      expect(again.ranAtMs - signalledAtMs).toBeLessThan(60_000);
    });
  });

  it('lets a running chunk finish and counts its answer once, while the waiting one is sent again', async () => {
    const batch = new StandInBatch(15);
    const running = gate();
    const { pool, sends, activities } = pooledActivities(batch, running.promise);
    await withWorker(server.env, { activities, bundle: server.bundle }, async (taskQueue) => {
      // two chunks at once: p1..p5 runs (held up), p6..p10 finds every proxy resting
      const handle = await startBatch(server.env, taskQueue, { batchId: 'pool-running', settings: settings({ concurrency: 2 }) });
      await waitFor(async () => sends.some((s) => s.first === 'p6'));

      pool.empty = false;
      await handle.signal(poolChangedSignal);
      // the waiting chunk goes again now, while the running one is still out
      await waitFor(async () => sends.filter((s) => s.first === 'p6').length === 2, { what: 'the waiting chunk sent again' });
      expect(batch.checked.has('p1')).toBe(false);

      running.open();
      const result = await handle.result();
      expect(result.outcome).toBe('done');
      // the running chunk was neither abandoned nor sent again: its answer is the one counted
      expect(sends.filter((s) => s.first === 'p1')).toHaveLength(1);
      expect(result.totals).toMatchObject({ successful: 15, failed: 0 });
      batch.expectEachCheckedOnce();
    });
  });
});
