/**
 * Batch and queue transitions as the API performs them: the state change commits in Postgres first (the
 * source of truth the workflows read), then the workflows are told by signal. A signal that fails is not
 * fatal: the runner re-reads Postgres (every page of profiles, every chunk before it sends, and on a
 * periodic wake-up), and every worker makes sure the runner exists while Postgres holds work for it
 * (src/queue-watch.ts), so a batch is never stranded; the failure is logged.
 *
 * Deadlines: the database work has none of Temporal's (it is bounded by Postgres and its locks, which no
 * transition holds for long); each Temporal call gets its own `signalDeadlineMs`, counted from when it is
 * made, so a slow transaction (a 100k-profile create takes seconds) never eats the signal's time.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Sql } from './db.js';
import type { Logger } from './logger.js';
import {
  batchWorkflowId,
  cancelBatch,
  createBatch,
  pauseBatch,
  resumeBatch,
  setQueuePaused,
  startBatch,
  type CreateBatchInput,
} from './repos/queue.js';
import type { BatchRow } from './repos/batches.js';
import { batchQueueWorkflow, QUEUE_WORKFLOW_ID } from '../workflows/batch-queue.js';
import { cancelSignal, pauseSignal, queuePausedSignal, wakeSignal } from '../workflows/signals.js';

/** Bound on each Temporal call of a transition, from the moment it is made. */
export const SIGNAL_DEADLINE_MS = 5_000;

export interface BatchControlDeps {
  sql: Sql;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  signalDeadlineMs?: number;
}

/** Starts the singleton runner if it is not running (a closed run is replaced) and wakes it. */
export function wakeRunner(temporal: Client, taskQueue: string): Promise<unknown> {
  return temporal.workflow.signalWithStart(batchQueueWorkflow, {
    workflowId: QUEUE_WORKFLOW_ID,
    taskQueue,
    args: [{}],
    signal: wakeSignal,
    signalArgs: [],
  });
}

export function createBatchControl({ sql, temporal, taskQueue, logger, signalDeadlineMs = SIGNAL_DEADLINE_MS }: BatchControlDeps) {
  const withDeadline = <T>(call: () => Promise<T>) => temporal.withDeadline(Date.now() + signalDeadlineMs, call);

  /** Starts the singleton runner if needed and wakes it. */
  async function wakeQueue(): Promise<void> {
    try {
      await withDeadline(() => wakeRunner(temporal, taskQueue));
    } catch (err) {
      logger.warn('could not wake the batch queue; a worker starts or wakes it on its next queue check', { err });
    }
  }

  async function signalBatch(batchId: string, send: (id: string) => Promise<void>): Promise<void> {
    try {
      await withDeadline(() => send(batchWorkflowId(batchId)));
    } catch (err) {
      // no run in progress (e.g. between runs): the stored status is enough
      if (err instanceof WorkflowNotFoundError) return;
      logger.warn('could not signal the batch workflow; it re-reads Postgres on its own', { err, batch_id: batchId });
    }
  }

  return {
    wakeQueue,

    async create(input: CreateBatchInput): Promise<BatchRow> {
      const batch = await createBatch(sql, input);
      if (batch.status === 'queued') await wakeQueue();
      return batch;
    },

    async start(id: string): Promise<BatchRow> {
      const batch = await startBatch(sql, id);
      await wakeQueue();
      return batch;
    },

    async pause(id: string): Promise<BatchRow> {
      const before = await pauseBatch(sql, id);
      await signalBatch(id, (wid) => temporal.workflow.getHandle(wid).signal(pauseSignal));
      return before;
    },

    async cancel(id: string): Promise<BatchRow> {
      const batch = await cancelBatch(sql, id);
      await signalBatch(id, (wid) => temporal.workflow.getHandle(wid).signal(cancelSignal));
      return batch;
    },

    async resume(id: string): Promise<BatchRow> {
      const batch = await resumeBatch(sql, id);
      await wakeQueue();
      return batch;
    },

    async setQueuePaused(paused: boolean): Promise<{ paused: boolean }> {
      const { running, version } = await setQueuePaused(sql, paused);
      if (running) {
        await signalBatch(running.id, (wid) => temporal.workflow.getHandle(wid).signal(queuePausedSignal, { paused, version }));
      }
      if (!paused) await wakeQueue();
      return { paused };
    },
  };
}

export type BatchControl = ReturnType<typeof createBatchControl>;
