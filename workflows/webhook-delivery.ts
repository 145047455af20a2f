/**
 * `webhookDeliveryWorkflow`: one per outbox row (`webhook-<deliveryId>`, started by the dispatcher in every
 * worker, src/webhooks/dispatcher.ts). It runs one `sendWebhook` activity under a Temporal retry policy: the
 * waits between attempts double from the initial interval up to the maximum, and with the defaults the last of
 * 18 attempts comes about 3 days after the first. The activity records each attempt and decides what follows
 * (src/repos/webhook-sends.ts); the workflow adds durable waiting, and ends a delivery its last attempt could
 * not end (a timed-out attempt records nothing).
 *
 * The settings come in the input, read from the dispatching worker's configuration, so a replay sees the same.
 */
import { ActivityFailure, CancellationScope, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { createWebhookDeliveryActivities, WebhookDeliveryOutcome } from '../activities/webhook-delivery.js';

type Activities = ReturnType<typeof createWebhookDeliveryActivities>;

export interface WebhookDeliveryInput {
  deliveryId: string;
  retry: {
    /** WEBHOOK_RETRY_INITIAL_MS: the wait before the second attempt; each next one doubles. */
    initialIntervalMs: number;
    /** WEBHOOK_RETRY_MAX_INTERVAL_MS */
    maximumIntervalMs: number;
    /** WEBHOOK_RETRY_MAX_ATTEMPTS */
    maximumAttempts: number;
  };
  /** One attempt's bound: the request's own timeout (WEBHOOK_TIMEOUT_MS) plus its bookkeeping in Postgres. */
  attemptTimeoutMs: number;
}

/** The workflow id of a delivery's workflow; a second start with it is refused. */
export function webhookDeliveryWorkflowId(deliveryId: string): string {
  return `webhook-${deliveryId}`;
}

export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<WebhookDeliveryOutcome> {
  const { sendWebhook } = proxyActivities<Activities>({
    startToCloseTimeout: input.attemptTimeoutMs,
    retry: {
      initialInterval: input.retry.initialIntervalMs,
      backoffCoefficient: 2,
      maximumInterval: input.retry.maximumIntervalMs,
      maximumAttempts: input.retry.maximumAttempts,
    },
  });
  // bookkeeping only: tried until Postgres takes it
  const { finishWebhookDelivery } = proxyActivities<Activities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
  });
  try {
    return await sendWebhook({ deliveryId: input.deliveryId, maxAttempts: input.retry.maximumAttempts });
  } catch (err) {
    if (isCancellation(err)) {
      // the workflow itself was cancelled (an operator, in the Web UI): the delivery says so, and nothing more is sent
      await CancellationScope.nonCancellable(() => finishWebhookDelivery({ deliveryId: input.deliveryId, status: 'cancelled' }));
      throw err;
    }
    if (!(err instanceof ActivityFailure)) throw err;
    // the attempts ran out or one was final: what the activity recorded stands, a delivery left pending fails
    await finishWebhookDelivery({ deliveryId: input.deliveryId, status: 'failed' });
    return 'failed';
  }
}
