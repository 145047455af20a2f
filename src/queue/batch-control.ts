/**
 * Batch and queue transitions as the API performs them: the state change commits in Postgres first (the
 * source of truth the workflows read), then the workflows are told by signal. A signal that fails is not
 * fatal: the runner re-reads Postgres (every page of profiles, every chunk before it sends, and on a
 * periodic wake-up), and every worker makes sure the runner exists while Postgres holds work for it
 * (src/queue/watch.ts), so a batch is never stranded; the failure is logged.
 *
 * Deadlines, set here and nowhere else (the routes call this module as it is): the database work has none of
 * Temporal's (it is bounded by Postgres and its locks, which no transition holds for long); each Temporal call
 * gets its own `signalDeadlineMs`, counted from when it is made, so a slow transaction (a 100k-profile create
 * takes seconds) never eats the signal's time.
 *
 * A change of the pool (a proxy or session added, a proxy enabled, a session found valid again) is announced
 * to the queue runner (`poolChanged`), which passes it on to the batch it runs: chunks waiting for the end of
 * a proxy's rest are sent again at once. Only while a batch runs, and at most once per
 * POOL_CHANGE_MIN_GAP_MS: changes that come faster (a list of proxies added one by one) are carried by one
 * announcement at the end of the gap, so that each does not cost the runs' histories a round of cancellations.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Sql } from '../db/sql.js';
import type { Logger } from '../logging/logger.js';
import {
  batchWorkflowId,
  cancelBatch,
  createBatch,
  pauseBatch,
  resumeBatch,
  setQueuePaused,
  startBatch,
  type CreateBatchInput,
} from '../repos/queue.js';
import type { BatchRow } from '../repos/batches.js';
import { cancelSignal, pauseSignal, poolChangedSignal, QUEUE_WORKFLOW_ID, queuePausedSignal } from '../../workflows/signals.js';
import { wakeRunner } from './wake-runner.js';

/** Bound on each Temporal call of a transition, from the moment it is made. */
export const SIGNAL_DEADLINE_MS = 5_000;

/** Pool changes are announced at most this often; those in between go with one announcement at its end. */
export const POOL_CHANGE_MIN_GAP_MS = 1_000;

export interface BatchControlDeps {
  sql: Sql;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  signalDeadlineMs?: number;
}

/**
 * Calls `send` at once when it was last called at least `minGapMs` ago; otherwise once at the end of the gap,
 * for every call made meanwhile (those return at once). `send` handles its own failures.
 */
function throttled(send: () => Promise<void>, minGapMs: number): () => Promise<void> {
  let lastSentAt = Number.NEGATIVE_INFINITY;
  let due: NodeJS.Timeout | null = null;
  return async () => {
    if (due) return; // the announcement due at the end of the gap carries this change too
    const wait = lastSentAt + minGapMs - Date.now();
    if (wait <= 0) {
      lastSentAt = Date.now();
      return send();
    }
    due = setTimeout(() => {
      due = null;
      lastSentAt = Date.now();
      void send();
    }, wait);
    due.unref();
  };
}

/**
 * The Temporal side of the transitions, after their change has committed: each call bounded by its own
 * deadline, counted from when it is made; a failure is logged, never thrown.
 */
function createNotifier({ sql, temporal, taskQueue, logger, signalDeadlineMs }: Required<BatchControlDeps>) {
  const withDeadline = <T>(call: () => Promise<T>) => temporal.withDeadline(Date.now() + signalDeadlineMs, call);

  /** Tells the queue runner that the pool changed, when a batch runs. */
  async function signalPoolChange(): Promise<void> {
    try {
      // nothing waits for the pool unless a batch runs (and then the runner is open)
      const [running] = await sql<{ id: string }[]>`select id from batches where status = 'running' limit 1`;
      if (!running) return;
      await withDeadline(() => temporal.workflow.getHandle(QUEUE_WORKFLOW_ID).signal(poolChangedSignal));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return;
      logger.warn('could not tell the batch queue that the pool changed; waiting chunks go on at the end of their wait', { err });
    }
  }

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

  return { signalPoolChange, wakeQueue, signalBatch };
}

export function createBatchControl(deps: BatchControlDeps) {
  const { sql, temporal } = deps;
  const { signalPoolChange, wakeQueue, signalBatch } = createNotifier({ ...deps, signalDeadlineMs: deps.signalDeadlineMs ?? SIGNAL_DEADLINE_MS });

  return {
    wakeQueue,

    /**
     * After a proxy or session was added, enabled or found valid again (committed): chunks of the running batch
     * that wait for the pool are sent again now. Never fails the caller.
     */
    announcePoolChange: throttled(signalPoolChange, POOL_CHANGE_MIN_GAP_MS),

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
