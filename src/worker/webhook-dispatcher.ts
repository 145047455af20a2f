/**
 * Turns committed outbox rows (webhook_deliveries) into delivery workflows. Every worker runs one: the triggers
 * that write the rows NOTIFY `webhook_deliveries` at commit, which wakes it at once, and it also looks every
 * WEBHOOK_DISPATCH_INTERVAL_MS, so a notification missed (no listener connected at the time, a dispatcher that
 * failed to start a workflow) only delays a delivery.
 *
 * Each look claims undispatched rows (skipping those another worker holds), fixes their bodies, starts one
 * workflow per row (`webhook-<deliveryId>`, a duplicate id refused: a row two workers both started, or one
 * started before a crash, runs once) and marks the rows dispatched. A row whose start failed stays
 * undispatched and is tried at the next look.
 *
 * Why in the worker and not a workflow: the rows appear in Postgres, and something outside Temporal has to see
 * them there; the worker is the one process that always runs where deliveries are wanted.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Config } from '../config.js';
import type { Sql } from '../db/sql.js';
import type { Logger } from '../logging/logger.js';
import { WEBHOOK_DELIVERIES_CHANNEL } from '../repos/webhook-deliveries.js';
import { claimUndispatched, DISPATCH_BATCH, markDispatched } from '../repos/webhook-sends.js';
import { webhookDeliveryWorkflow, webhookDeliveryWorkflowId, type WebhookDeliveryInput } from '../../workflows/webhook-delivery.js';


/** Workflow starts in flight at once during a look. */
const START_CONCURRENCY = 10;

/** What one attempt may take beyond its request: reading and recording it in Postgres. */
const ATTEMPT_BOOKKEEPING_MS = 10_000;

export type DispatchSettings = Pick<
  Config,
  'WEBHOOK_RETRY_INITIAL_MS' | 'WEBHOOK_RETRY_MAX_INTERVAL_MS' | 'WEBHOOK_RETRY_MAX_ATTEMPTS' | 'WEBHOOK_TIMEOUT_MS' | 'WEBHOOK_DISPATCH_INTERVAL_MS'
>;

/** A delivery workflow's input, from the dispatching worker's configuration. */
export function webhookDeliveryInput(config: DispatchSettings, deliveryId: string): WebhookDeliveryInput {
  return {
    deliveryId,
    retry: {
      initialIntervalMs: config.WEBHOOK_RETRY_INITIAL_MS,
      // never below the initial wait (Temporal would refuse the policy): the configuration refuses such a pair
      maximumIntervalMs: config.WEBHOOK_RETRY_MAX_INTERVAL_MS,
      maximumAttempts: config.WEBHOOK_RETRY_MAX_ATTEMPTS,
    },
    attemptTimeoutMs: config.WEBHOOK_TIMEOUT_MS + ATTEMPT_BOOKKEEPING_MS,
  };
}

export interface WebhookDispatcherOptions {
  sql: Sql;
  temporal: Client;
  taskQueue: string;
  config: DispatchSettings;
  logger: Logger;
  /** Bound on each Temporal call. */
  callDeadlineMs?: number;
}

export interface WebhookDispatcher {
  /** One look now (also what a notification and the interval run). Never throws; resolves with the rows started. */
  dispatch(): Promise<number | 'failed'>;
  /** No more looks; resolves once the one under way (if any) has finished. */
  stop(): Promise<void>;
}

/** Starts the delivery workflow of each row; gives the ids whose workflow now exists. */
async function startDeliveryWorkflows(options: WebhookDispatcherOptions, ids: string[]): Promise<{ started: string[]; failed: number }> {
  const { temporal, taskQueue, config, logger, callDeadlineMs = 10_000 } = options;
  const started: string[] = [];
  let failed = 0;
  let firstError: unknown;
  // after a failed start (Temporal unreachable, most likely) the rest waits for the next look
  for (let i = 0; i < ids.length && failed === 0; i += START_CONCURRENCY) {
    await Promise.all(
      ids.slice(i, i + START_CONCURRENCY).map(async (id) => {
        try {
          await temporal.withDeadline(Date.now() + callDeadlineMs, () =>
            temporal.workflow.start(webhookDeliveryWorkflow, {
              taskQueue,
              workflowId: webhookDeliveryWorkflowId(id),
              args: [webhookDeliveryInput(config, id)],
              workflowIdReusePolicy: 'REJECT_DUPLICATE',
            }),
          );
          started.push(id);
        } catch (err) {
          // started by another worker, or by this one before it could mark the row: it exists, which is the point
          if (err instanceof WorkflowExecutionAlreadyStartedError) started.push(id);
          else {
            failed++;
            firstError ??= err;
          }
        }
      }),
    );
  }
  if (failed > 0) logger.warn('could not start some webhook delivery workflows; trying again later', { failed, err: firstError });
  return { started, failed };
}

/** Claims, starts and marks rows until none is left, a start failed, or `stopped()` (the rest waits for the next look). */
async function drainOutbox(options: WebhookDispatcherOptions, stopped: () => boolean): Promise<number> {
  let total = 0;
  while (!stopped()) {
    const ids = await claimUndispatched(options.sql, DISPATCH_BATCH);
    if (ids.length === 0) break;
    const { started, failed } = await startDeliveryWorkflows(options, ids);
    await markDispatched(options.sql, started);
    total += started.length;
    if (failed > 0 || ids.length < DISPATCH_BATCH) break;
  }
  if (total > 0) options.logger.debug('webhook deliveries dispatched', { count: total });
  return total;
}

export function startWebhookDispatcher(options: WebhookDispatcherOptions): WebhookDispatcher {
  const { sql, config, logger } = options;
  let stopped = false;
  const drain = () => drainOutbox(options, () => stopped);

  let running: Promise<number | 'failed'> | null = null;
  let again = false;
  const dispatch = (): Promise<number | 'failed'> => {
    if (stopped) return Promise.resolve(0);
    // a look under way goes round once more, so rows committed during it are not left for the interval
    if (running) {
      again = true;
      return running;
    }
    const look = (async () => {
      let total = 0;
      do {
        again = false;
        total += await drain();
      } while (again && !stopped);
      return total;
    })()
      .catch((err: unknown) => {
        logger.warn('could not dispatch webhook deliveries; trying again later', { err });
        return 'failed' as const;
      })
      .finally(() => {
        running = null;
      });
    running = look;
    return look;
  };

  // a (re)connected listener looks at once: notifications sent while it was away are lost
  const listening = sql
    .listen(WEBHOOK_DELIVERIES_CHANNEL, () => void dispatch(), () => void dispatch())
    .catch((err: unknown) => {
      logger.warn('cannot listen for webhook deliveries; dispatching every WEBHOOK_DISPATCH_INTERVAL_MS only', { err });
      void dispatch();
      return null;
    });
  const timer = setInterval(() => void dispatch(), config.WEBHOOK_DISPATCH_INTERVAL_MS);
  timer.unref();

  return {
    dispatch,
    async stop() {
      stopped = true;
      clearInterval(timer);
      const listener = await listening;
      await listener?.unlisten().catch(() => {});
      await running;
    },
  };
}
