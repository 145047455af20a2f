/**
 * Every closed set of values the service stores or shows, defined once: the zod schemas (z.enum), the
 * repositories' row types and the code deciding on them read these. The SQL CHECK constraints repeat them
 * (SQL cannot import TypeScript); tests/integration/enums.test.ts keeps both in step. Pure data, no imports.
 */

export const BATCH_STATUSES = ['queued', 'running', 'paused', 'done', 'error', 'cancelled'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

export const BATCH_PROFILE_STATUSES = ['pending', 'running', 'completed', 'failed'] as const;
export type BatchProfileStatus = (typeof BATCH_PROFILE_STATUSES)[number];

/** Where a completed batch profile's result came from: asked upstream, or copied from a recent upstream result. */
export const RESULT_SOURCES = ['upstream', 'cache'] as const;
export type ResultSource = (typeof RESULT_SOURCES)[number];

export const PROXY_STATUSES = ['active', 'cooling_down', 'disabled'] as const;
export type ProxyStatus = (typeof PROXY_STATUSES)[number];

/**
 * Who disabled a proxy: an operator (only an operator re-enables it), its failures, or the source refusing its
 * address (403) again after a rest (the health schedule re-enables those two once the source answers it).
 */
export const DISABLED_REASONS = ['operator', 'failures', 'blocked'] as const;
export type DisabledReason = (typeof DISABLED_REASONS)[number];

/** Why a proxy rests: asked to slow down, it could not reach the upstream, or the source refused its address. */
export const REST_REASONS = ['rate_limited', 'upstream_unreachable', 'blocked'] as const;
export type RestReason = (typeof REST_REASONS)[number];

export const SESSION_STATUSES = ['valid', 'invalid'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** Why a running batch cannot send (batches.stalled_reason). */
export const STALL_REASONS = ['no_usable_proxy', 'upstream_unreachable', 'no_valid_session', 'queue_held'] as const;
export type StallReason = (typeof STALL_REASONS)[number];

export const LOG_LEVELS = ['INFO', 'WARNING', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Every event type of docs/api.md (the table checks only their shape, `^[A-Z][A-Z_]*$`). */
export const EVENT_TYPES = [
  'BATCH_QUEUED',
  'BATCH_STARTED',
  'BATCH_PAUSED',
  'BATCH_RESUMED',
  'BATCH_CANCELLED',
  'BATCH_COMPLETED',
  'BATCH_ERROR',
  'PROFILE_CHECK_STARTED',
  'STORY_CHECK_SUCCESS',
  'RESULTS_FROM_CACHE',
  'CHECK_RETRY',
  'RATE_LIMITED',
  'CHECK_FAILED',
  'PROXY_COOLDOWN',
  'PROXY_DISABLED',
  'PROXY_RECOVERED',
  'SESSION_INVALIDATED',
  'SESSION_RECOVERED',
  'BATCH_STALLED',
  'BATCH_STALL_CLEARED',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The longest a recent result may answer a profile for (max_age_s, CHECK_MAX_AGE_S): one year, in seconds. */
export const MAX_AGE_S = 365 * 24 * 3600;

/** The most profiles one batch holds (a create through the API, a watch's tick). */
export const MAX_BATCH_PROFILES = 100_000;

/** The longest session token stored (the sessions table's CHECK counts characters, as JSON Schema does). */
export const MAX_TOKEN_LENGTH = 4096;

/** What a story event says happened to one item (story_events.type; the SSE `event:` of GET /events/stream). */
export const STORY_EVENT_TYPES = ['story.posted', 'story.ended'] as const;
export type StoryEventType = (typeof STORY_EVENT_TYPES)[number];

/** What a story item shows (story_items.media_type; null when the source did not say). */
export const STORY_MEDIA_TYPES = ['image', 'video'] as const;
export type StoryMediaType = (typeof STORY_MEDIA_TYPES)[number];

/** What a webhook endpoint can subscribe to (webhooks.events); a `ping` is sent only by POST /webhooks/:id/test. */
export const WEBHOOK_EVENT_TYPES = ['story.posted', 'story.ended', 'batch.completed', 'batch.stalled'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Every `type` a delivery's body may carry (webhook_deliveries.event_type). */
export const WEBHOOK_DELIVERY_EVENT_TYPES = [...WEBHOOK_EVENT_TYPES, 'ping'] as const;
export type WebhookDeliveryEventType = (typeof WEBHOOK_DELIVERY_EVENT_TYPES)[number];

/** Where a delivery stands: waiting or retrying, answered 2xx, given up on, or dropped (its endpoint disabled). */
export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'delivered', 'failed', 'cancelled'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

/** Why an endpoint receives nothing: an operator, a 410 answer, or failing for WEBHOOK_DISABLE_AFTER_MS. */
export const WEBHOOK_DISABLED_REASONS = ['operator', 'gone', 'failing'] as const;
export type WebhookDisabledReason = (typeof WEBHOOK_DISABLED_REASONS)[number];

/** What a watch's tick did: created (and queued) a batch, or skipped (the previous batch unfinished, nothing to check). */
export const WATCH_TICK_RESULTS = ['created', 'skipped'] as const;
export type WatchTickResult = (typeof WATCH_TICK_RESULTS)[number];
