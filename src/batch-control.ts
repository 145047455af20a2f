/**
 * Batch and queue transitions as the API performs them: the state change commits in Postgres first (the
 * source of truth the workflows read), then the workflows are told by signal. A signal that fails is not
 * fatal: the runner re-reads Postgres (every page of profiles, every chunk before it sends, and on a
 * periodic wake-up), so a batch is never stranded; the failure is logged and the next call repairs it.
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
  type BatchRow,
  type CreateBatchInput,
} from './repos/batches.js';
import { batchQueueWorkflow, QUEUE_WORKFLOW_ID } from '../workflows/batch-queue.js';
import { cancelSignal, pauseSignal, queuePausedSignal, wakeSignal } from '../workflows/signals.js';

export interface BatchControlDeps {
  sql: Sql;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
}

export function createBatchControl({ sql, temporal, taskQueue, logger }: BatchControlDeps) {
  /** Starts the singleton runner if needed and wakes it. */
  async function wakeQueue(): Promise<void> {
    try {
      await temporal.workflow.signalWithStart(batchQueueWorkflow, {
        workflowId: QUEUE_WORKFLOW_ID,
        taskQueue,
        args: [{}],
        signal: wakeSignal,
        signalArgs: [],
      });
    } catch (err) {
      logger.warn('could not wake the batch queue; it re-reads Postgres on its own', { err });
    }
  }

  async function signalBatch(batchId: string, send: (id: string) => Promise<void>): Promise<void> {
    try {
      await send(batchWorkflowId(batchId));
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
      const { running } = await setQueuePaused(sql, paused);
      if (running) {
        await signalBatch(running.id, (wid) => temporal.workflow.getHandle(wid).signal(queuePausedSignal, paused));
      }
      if (!paused) await wakeQueue();
      return { paused };
    },
  };
}

export type BatchControl = ReturnType<typeof createBatchControl>;
