/**
 * Webhook rows as the API shows them (shapes from webhook-schemas.ts, so a field missing on either side fails
 * to compile). The secret is shown only through `toApiWebhookWithSecret`, which the create and rotate routes
 * alone call.
 */
import type { z } from '@hono/zod-openapi';
import type { AttemptRow, DeliveryRow, DeliveryWithAttempts } from '../repos/webhook-deliveries.js';
import type { WebhookRow, WebhookWithSecret as WebhookAndSecret } from '../repos/webhooks.js';
import { iso } from './present.js';
import type { Attempt, Delivery, DeliveryDetail, Webhook, WebhookWithSecret } from './webhook-schemas.js';

export type ApiWebhook = z.infer<typeof Webhook>;
export type ApiWebhookWithSecret = z.infer<typeof WebhookWithSecret>;
export type ApiDelivery = z.infer<typeof Delivery>;
export type ApiDeliveryDetail = z.infer<typeof DeliveryDetail>;
export type ApiAttempt = z.infer<typeof Attempt>;

export function toApiWebhook(row: WebhookRow): ApiWebhook {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    niche_id: row.niche_id,
    description: row.description,
    enabled: row.enabled,
    disabled_reason: row.disabled_reason,
    disabled_at: iso(row.disabled_at),
    failing_since: iso(row.failing_since),
    secret_rotated_at: iso(row.secret_rotated_at),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** The answer of creation and rotation: the one place a secret is shown. */
export function toApiWebhookWithSecret({ webhook, secret }: WebhookAndSecret): ApiWebhookWithSecret {
  return { ...toApiWebhook(webhook), secret };
}

export function toApiDelivery(row: DeliveryRow): ApiDelivery {
  return {
    id: row.id,
    webhook_id: row.webhook_id,
    message_id: row.message_id,
    event_type: row.event_type,
    status: row.status,
    attempts: row.attempts,
    last_status_code: row.last_status_code,
    last_error: row.last_error,
    redelivery_of: row.redelivery_of,
    created_at: row.created_at.toISOString(),
    dispatched_at: iso(row.dispatched_at),
    finished_at: iso(row.finished_at),
    payload: row.payload,
  };
}

export function toApiAttempt(row: AttemptRow): ApiAttempt {
  return {
    attempt: row.attempt,
    started_at: row.started_at.toISOString(),
    duration_ms: row.duration_ms,
    status_code: row.status_code,
    error: row.error,
    response_snippet: row.response_snippet,
  };
}

export function toApiDeliveryDetail(row: DeliveryWithAttempts): ApiDeliveryDetail {
  return { ...toApiDelivery(row), attempts: row.attempt_rows.map(toApiAttempt) };
}
