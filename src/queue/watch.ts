/**
 * Every worker keeps the singleton runner (`batch-queue`) alive while Postgres holds work for it. The API
 * starts the runner by signal-with-start, but that call can fail (Temporal slow or briefly down, the
 * runner's run terminated by an operator), and the runner's own periodic look at Postgres (IDLE_RECHECK)
 * cannot help a workflow that does not run at all. So each worker, when it starts and then every
 * `intervalMs`:
 *
 * - starts the runner when Postgres holds a queued or running batch and no run of it is open (a describe
 *   first, so a runner that is there costs no history event);
 * - wakes it when a batch is queued, none is running and the queue is not held: a runner that has work and
 *   is idle lost its wake signal (the state is otherwise fleeting: the runner claims at once).
 *
 * Why here and not in a Temporal Schedule: a schedule starts a workflow that would need a worker to run it
 * anyway, so with no worker nothing is gained, and with one the worker can do the check itself; it adds no
 * workflow histories, nothing to create or migrate on the server, and works on every server the tests use.
 * Several workers checking at once is harmless: both calls are idempotent.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { wakeRunner } from './wake-runner.js';
import type { Sql } from '../db/sql.js';
import type { Logger } from '../logging/logger.js';
import { QUEUE_WORKFLOW_ID, wakeSignal } from '../../workflows/signals.js';

/** How often a worker checks that the runner exists when there is work (the API's wake is the fast path). */
export const QUEUE_WATCH_INTERVAL_MS = 30_000;

export interface QueueWatchOptions {
  sql: Sql;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  intervalMs?: number;
  /** Bound on each Temporal call. */
  callDeadlineMs?: number;
}

export type QueueCheck = 'no_work' | 'started' | 'woken' | 'ok';

export interface QueueWatch {
  /** One check now (also what the interval runs). Never throws: a failure is logged and retried next time. */
  check(): Promise<QueueCheck | 'failed'>;
  /** No more checks; resolves once the one under way (if any) has finished. */
  stop(): Promise<void>;
}

export function watchQueue({ sql, temporal, taskQueue, logger, intervalMs = QUEUE_WATCH_INTERVAL_MS, callDeadlineMs = 10_000 }: QueueWatchOptions): QueueWatch {
  const withDeadline = <T>(call: () => Promise<T>) => temporal.withDeadline(Date.now() + callDeadlineMs, call);

  async function checkOnce(): Promise<QueueCheck> {
    const [state] = await sql<{ queued: boolean; running: boolean; paused: boolean }[]>`
      select exists(select 1 from batches where status = 'queued') as queued,
        exists(select 1 from batches where status = 'running') as running,
        coalesce((select paused from queue_state where singleton), false) as paused`;
    if (!state || (!state.queued && !state.running)) return 'no_work';
    if (!(await runnerIsOpen())) {
      // signal-with-start: starts a new run (a closed one is replaced), or just wakes one that another worker
      // started a moment ago
      await withDeadline(() => wakeRunner(temporal, taskQueue));
      logger.info('started the batch queue runner: Postgres holds work and no runner was running', { task_queue: taskQueue });
      return 'started';
    }
    if (state.queued && !state.running && !state.paused) {
      await withDeadline(() => temporal.workflow.getHandle(QUEUE_WORKFLOW_ID).signal(wakeSignal));
      logger.info('woke the idle batch queue runner: a batch is queued', { task_queue: taskQueue });
      return 'woken';
    }
    return 'ok';
  }

  async function runnerIsOpen(): Promise<boolean> {
    try {
      const described = await withDeadline(() => temporal.workflow.getHandle(QUEUE_WORKFLOW_ID).describe());
      return described.status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  let running: Promise<unknown> = Promise.resolve();
  const check = async (): Promise<QueueCheck | 'failed'> => {
    const next = running.then(() =>
      checkOnce().catch((err: unknown) => {
        logger.warn('could not check the batch queue runner; trying again later', { err });
        return 'failed' as const;
      }),
    );
    running = next;
    return next;
  };

  void check();
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return {
    check,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
