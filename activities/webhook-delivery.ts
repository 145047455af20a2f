/**
 * The activities of a webhook delivery (workflows/webhook-delivery.ts). `sendWebhook` is one attempt: read the
 * delivery, its endpoint and live secrets; send the signed body once; record the attempt and what follows for
 * the delivery and the endpoint; then tell Temporal whether to try again (a retryable failure), to stop (a
 * non-retryable one), or that it is done. Temporal's retry policy spaces the attempts, so the attempt number
 * is Temporal's own and each is recorded under it.
 *
 * An attempt's time (its started_at, an endpoint's failing_since, how long the endpoint has been failing) is
 * read from the worker's clock, which a test on the time-skipping server replaces with the server's.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Config } from '../src/config.js';
import type { Sql } from '../src/db/sql.js';
import type { Logger } from '../src/logging/logger.js';
import { countWebhookDelivery, countWebhookEndpointDisabled, observeWebhookRequest } from '../src/metrics/worker.js';
import {
  beginAttempt,
  finishPendingDelivery,
  loadDeliveryToSend,
  recordAttempt,
  type AttemptVerdict,
} from '../src/repos/webhook-sends.js';
import { createWebhookSender, type SendOutcome, type WebhookSender } from '../src/webhooks/send.js';

export interface SendWebhookInput {
  deliveryId: string;
  /** The retry policy's maximumAttempts: a failed attempt with this number is the last. */
  maxAttempts: number;
}

/** How a delivery ended. */
export type WebhookDeliveryOutcome = 'delivered' | 'failed' | 'cancelled';

/** The failure types `sendWebhook` throws (the workflow's history shows them). */
export const WEBHOOK_FAILURES = {
  /** This attempt failed; another follows. */
  attempt: 'WebhookAttemptFailed',
  /** The endpoint answered 410: it is disabled, nothing more is sent. */
  gone: 'WebhookGone',
  /** The last attempt failed, or this one disabled its failing endpoint. */
  final: 'WebhookDeliveryFailed',
} as const;

export interface WebhookDeliveryDeps {
  sql: Sql;
  config: Config;
  logger: Logger;
  /** The sender; one over the configuration's WEBHOOK_ALLOW_HOSTS and WEBHOOK_TIMEOUT_MS otherwise. */
  sender?: WebhookSender;
  /** The time of an attempt; the system clock by default. */
  clock?: () => Date | Promise<Date>;
}

/** 2xx delivers; 410 is final; anything else (3xx included: redirects are not followed) is a failed attempt. */
export function attemptVerdict(statusCode: number | null): AttemptVerdict {
  if (statusCode !== null && statusCode >= 200 && statusCode < 300) return 'delivered';
  if (statusCode === 410) return 'gone';
  return 'failed_attempt';
}

/** The attempt's outcome in a few words, for the failure Temporal records (never a header or a secret). */
function describeOutcome(outcome: SendOutcome): string {
  return outcome.statusCode !== null ? `the endpoint answered ${outcome.statusCode}` : (outcome.error ?? 'no answer');
}

/** The metric, the log line and what Temporal is told, from the attempt's verdict and the delivery's status. */
function settle(logger: Logger, verdict: AttemptVerdict, status: string, outcome: SendOutcome, fields: Record<string, unknown>): WebhookDeliveryOutcome {
  const what = describeOutcome(outcome);
  if (status === 'cancelled') return 'cancelled';
  if (verdict === 'delivered') {
    countWebhookDelivery('delivered');
    logger.debug('webhook delivered', { ...fields, status_code: outcome.statusCode, duration_ms: outcome.durationMs });
    return 'delivered';
  }
  if (verdict === 'gone') {
    countWebhookDelivery('gone');
    throw ApplicationFailure.nonRetryable(`${what}: the endpoint is gone and now disabled`, WEBHOOK_FAILURES.gone);
  }
  if (status === 'failed') {
    countWebhookDelivery('failed');
    logger.info('webhook delivery failed: no attempt follows', { ...fields, outcome: what });
    throw ApplicationFailure.nonRetryable(`${what}; no attempt follows`, WEBHOOK_FAILURES.final);
  }
  countWebhookDelivery('failed_attempt');
  logger.debug('webhook attempt failed; another follows', { ...fields, outcome: what });
  throw ApplicationFailure.retryable(what, WEBHOOK_FAILURES.attempt);
}

export function createWebhookDeliveryActivities({ sql, config, logger, sender: given, clock = () => new Date() }: WebhookDeliveryDeps) {
  const sender = given ?? createWebhookSender({ allowHosts: config.WEBHOOK_ALLOW_HOSTS, timeoutMs: config.WEBHOOK_TIMEOUT_MS });

  async function sendWebhook(input: SendWebhookInput): Promise<WebhookDeliveryOutcome> {
    const ctx = Context.current();
    const attempt = ctx.info.attempt;
    const at = await clock();
    const delivery = await loadDeliveryToSend(sql, input.deliveryId);
    const fields = { delivery_id: input.deliveryId, webhook_id: delivery?.webhookId, attempt };
    if (!delivery) {
      // its endpoint was deleted, and the delivery with it
      countWebhookDelivery('cancelled');
      return 'cancelled';
    }
    // settled by an earlier run of this attempt whose completion Temporal never heard of
    if (delivery.status !== 'pending') return delivery.status;
    if (!delivery.enabled) {
      if (await finishPendingDelivery(sql, delivery.id, 'cancelled')) countWebhookDelivery('cancelled');
      logger.info('webhook delivery cancelled: its endpoint is disabled', fields);
      return 'cancelled';
    }

    await beginAttempt(sql, delivery.id, attempt, at);
    let outcome: SendOutcome = { statusCode: null, error: 'not sent: the endpoint has no live signing secret', durationMs: 0, snippet: null };
    if (delivery.secrets.length > 0) {
      outcome = await sender.send({ url: delivery.url, messageId: delivery.messageId, body: delivery.body, secrets: delivery.secrets }, ctx.cancellationSignal);
      observeWebhookRequest(outcome.durationMs / 1000);
    }
    const verdict = attemptVerdict(outcome.statusCode);
    const result = await recordAttempt(sql, {
      deliveryId: delivery.id,
      webhookId: delivery.webhookId,
      attempt,
      verdict,
      statusCode: outcome.statusCode,
      error: outcome.error,
      durationMs: outcome.durationMs,
      snippet: outcome.snippet,
      at,
      last: attempt >= input.maxAttempts,
      disableAfterMs: config.WEBHOOK_DISABLE_AFTER_MS,
    });
    if (result.disabled) {
      countWebhookEndpointDisabled(result.disabled);
      logger.warn(
        result.disabled === 'gone'
          ? 'webhook endpoint disabled: it answered 410 Gone'
          : 'webhook endpoint disabled: it has been failing for longer than WEBHOOK_DISABLE_AFTER_MS',
        { ...fields, reason: result.disabled, disable_after_ms: config.WEBHOOK_DISABLE_AFTER_MS },
      );
    }
    return settle(logger, verdict, result.status, outcome, fields);
  }

  return {
    sendWebhook,

    /**
     * Ends a delivery still pending when its workflow gives up (its last attempt timed out, say, with no
     * chance to record the end itself). Does nothing to a delivery already ended.
     */
    async finishWebhookDelivery(input: { deliveryId: string; status: 'failed' | 'cancelled' }): Promise<void> {
      if (await finishPendingDelivery(sql, input.deliveryId, input.status)) countWebhookDelivery(input.status);
    },
  };
}
