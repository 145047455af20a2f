/**
 * What every worker process runs beside its Temporal workers (`npm run worker`, and the worker inside `npm run
 * dev`): it makes sure of its Schedules (proxy-health and retention with its intervals, and every watch's from
 * its row), keeps the queue runner alive while Postgres holds work for it (src/queue/watch.ts), and turns
 * committed webhook outbox rows into delivery workflows on the deliveries' task queue
 * (src/worker/webhook-dispatcher.ts).
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config.js';
import type { Sql } from '../db/sql.js';
import type { Logger } from '../logging/logger.js';
import { watchQueue } from '../queue/watch.js';
import { ensureWatchSchedules } from '../watches/reconcile.js';
import { ensureWorkerSchedules } from './schedules.js';
import { startWebhookDispatcher } from './webhook-dispatcher.js';
import { webhookTaskQueue } from './worker.js';

export interface WorkerBackground {
  /** Stops the queue watch and the dispatcher; resolves once the look under way (if any) has finished. */
  stop(): Promise<void>;
}

export async function startWorkerBackground(deps: { sql: Sql; client: Client; config: Config; logger: Logger }): Promise<WorkerBackground> {
  const { sql, client, config, logger } = deps;
  const taskQueue = config.TEMPORAL_TASK_QUEUE;
  await ensureWorkerSchedules(client, config);
  await ensureWatchSchedules({ client, sql, taskQueue, logger });
  const queueWatch = watchQueue({ sql, temporal: client, taskQueue, logger });
  // outbox rows become delivery workflows as soon as they commit
  const dispatcher = startWebhookDispatcher({ sql, temporal: client, taskQueue: webhookTaskQueue(taskQueue), config, logger });
  return {
    async stop() {
      await queueWatch.stop();
      await dispatcher.stop();
    },
  };
}
