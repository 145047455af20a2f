/**
 * The schemas of webhook endpoints, their deliveries and the attempts of each (docs/api.md, "Webhooks"): what
 * the /webhooks routes validate and answer, and what the OpenAPI document says of them.
 */
import { z } from '@hono/zod-openapi';
import { WEBHOOK_DELIVERY_EVENT_TYPES, WEBHOOK_DELIVERY_STATUSES, WEBHOOK_DISABLED_REASONS, WEBHOOK_EVENT_TYPES } from '../enums.js';
import { batchCursor } from './cursors.js';
import { IdParam, pageOf, pageQuery, text, Timestamp, Uuid } from './schemas.js';

const NullableTimestamp = Timestamp.nullable();

const WebhookEvents = z
  .array(z.enum(WEBHOOK_EVENT_TYPES))
  .min(1, 'events must name at least one event type')
  .max(WEBHOOK_EVENT_TYPES.length)
  .refine((events) => new Set(events).size === events.length, 'events must not repeat an event type')
  .openapi({ uniqueItems: true, example: ['story.posted'] });

const WebhookUrl = text('url', 2000)
  .min(1, 'url is required')
  .openapi({
    example: 'https://example.com/hooks/storycheck',
    description:
      'https, or http to a host in WEBHOOK_ALLOW_HOSTS; no credentials, no fragment, no private, loopback or link-local ' +
      'address unless its host is allowed (400 otherwise)',
  });

export const Webhook = z
  .object({
    id: Uuid,
    url: z.string(),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)),
    niche_id: Uuid.nullable().openapi({ description: "only story events of this niche's profiles, and batch events of its watches' batches" }),
    description: z.string().nullable(),
    enabled: z.boolean(),
    disabled_reason: z
      .enum(WEBHOOK_DISABLED_REASONS)
      .nullable()
      .openapi({ description: 'operator: PATCH enabled false; gone: it answered 410; failing: every delivery failed for WEBHOOK_DISABLE_AFTER_MS' }),
    disabled_at: NullableTimestamp,
    failing_since: NullableTimestamp.openapi({ description: 'the first failed attempt since the last successful one' }),
    secret_rotated_at: NullableTimestamp.openapi({ description: 'when the last rotation made the current secret' }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi('Webhook');

export const WebhookWithSecret = Webhook.extend({
  secret: z.string().openapi({
    description: 'the signing secret (`whsec_` + base64): shown in this answer only, never again',
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  }),
}).openapi('WebhookWithSecret');

export const WebhookPage = pageOf(Webhook, 'WebhookPage', batchCursor);
export const WebhookQuery = pageQuery(batchCursor);

export const CreateWebhook = z
  .object({
    url: WebhookUrl,
    events: WebhookEvents,
    niche_id: Uuid.nullish().openapi({ description: 'an existing niche (400 otherwise)' }),
    description: text('description', 500).nullish(),
  })
  .openapi('CreateWebhook');

export const UpdateWebhook = z
  .object({
    url: WebhookUrl.optional(),
    events: WebhookEvents.optional(),
    niche_id: Uuid.nullish().openapi({ description: 'an existing niche, or null for every profile' }),
    description: text('description', 500).nullish(),
    enabled: z.boolean().optional().openapi({
      description: 'true clears disabled_reason and failing_since; false disables it with reason operator',
    }),
  })
  .openapi('UpdateWebhook');

export const Delivery = z
  .object({
    id: Uuid,
    webhook_id: Uuid,
    message_id: z.string().openapi({ description: 'the `webhook-id` header: the same on every attempt and on a redelivery' }),
    event_type: z.enum(WEBHOOK_DELIVERY_EVENT_TYPES),
    status: z.enum(WEBHOOK_DELIVERY_STATUSES),
    attempts: z.number().int().openapi({ description: 'attempts made so far' }),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    redelivery_of: Uuid.nullable().openapi({ description: 'the delivery this one sends again' }),
    created_at: Timestamp,
    dispatched_at: NullableTimestamp.openapi({ description: 'when its delivery workflow was started' }),
    finished_at: NullableTimestamp,
    payload: z.record(z.string(), z.unknown()).openapi({ description: "the body's `data` (its `seq` is added when it is sent)" }),
  })
  .openapi('Delivery');

export const Attempt = z
  .object({
    attempt: z.number().int(),
    started_at: Timestamp,
    duration_ms: z.number().int().nullable(),
    status_code: z.number().int().nullable(),
    error: z.string().nullable(),
    response_snippet: z.string().nullable().openapi({ description: 'the start of the answer, at most 1024 characters' }),
  })
  .openapi('Attempt');

/** One delivery as GET /webhooks/:id/deliveries/:did shows it: its attempts listed instead of counted. */
export const DeliveryDetail = Delivery.extend({ attempts: z.array(Attempt) }).openapi('DeliveryDetail');

export const DeliveryPage = pageOf(Delivery, 'DeliveryPage', batchCursor);
export const DeliveryQuery = pageQuery(batchCursor).extend({
  status: z.enum(WEBHOOK_DELIVERY_STATUSES).optional().openapi({ param: { name: 'status', in: 'query' } }),
});

/** Path `:id/deliveries/:did`: malformed ids name nothing (404), as for IdParam. */
export const DeliveryParams = IdParam.extend({
  did: z.string().min(1).openapi({ param: { name: 'did', in: 'path' }, format: 'uuid' }),
});
