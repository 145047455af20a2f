/**
 * Request and response schemas of the HTTP API (API.md). They are the single source for both request
 * validation and the OpenAPI document served at /openapi.json, so the two cannot drift apart.
 */
import { z } from '@hono/zod-openapi';
import { BATCH_PROFILE_STATUSES } from '../repos/batch-profiles.js';
import { BATCH_STATUSES } from '../repos/batches.js';
import { isUuid } from '../repos/errors.js';
import { LOG_LEVELS } from '../repos/logs.js';

/** Any 8-4-4-4-12 hex id (what Postgres accepts), not only RFC-variant UUIDs. */
export const Uuid = z.string().refine(isUuid, 'must be a UUID').openapi({ format: 'uuid', example: '0b6f0d4e-3c5a-4a59-9c55-0f2b8c1e7d21' });
const Timestamp = z.string().openapi({ format: 'date-time' });
const NullableTimestamp = Timestamp.nullable();

// ---------- shared ----------

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'validation_error' }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');

/** Path `:id`. Any string: a malformed id names no resource, so the repositories answer 404 for it. */
export const IdParam = z.object({
  id: z.string().min(1).openapi({ param: { name: 'id', in: 'path' }, format: 'uuid' }),
});

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

export const PageQuery = z.object({
  limit: z.coerce
    .number({ error: 'limit must be a number' })
    .int('limit must be a whole number')
    .min(1, 'limit must be at least 1')
    .max(MAX_LIMIT, `limit must be at most ${MAX_LIMIT}`)
    .default(DEFAULT_LIMIT)
    .openapi({ param: { name: 'limit', in: 'query' }, example: DEFAULT_LIMIT }),
  cursor: z
    .string()
    .max(2000)
    .optional()
    .openapi({ param: { name: 'cursor', in: 'query' }, description: 'opaque next_cursor of the previous page' }),
});

export function pageOf<T extends z.ZodType>(item: T, name: string) {
  return z
    .object({
      items: z.array(item),
      next_cursor: z.string().nullable().openapi({ description: 'pass as ?cursor= for the next page; null on the last' }),
    })
    .openapi(name);
}

// ---------- health ----------

export const Health = z.object({ status: z.literal('ok') }).openapi('Health');
const PartStatus = z.enum(['ok', 'unavailable']);
export const Readiness = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    postgres: PartStatus,
    temporal: PartStatus,
  })
  .openapi('Readiness');

// ---------- niches ----------

export const Niche = z.object({ id: Uuid, name: z.string(), created_at: Timestamp }).openapi('Niche');
export const NichePage = pageOf(Niche, 'NichePage');
export const CreateNiche = z
  .object({ name: z.string().trim().min(1, 'name must not be empty').max(200, 'name must be at most 200 characters') })
  .openapi('CreateNiche');

// ---------- profiles ----------

export const Profile = z
  .object({
    id: Uuid,
    username: z.string(),
    niche_id: Uuid.nullable(),
    active_story: z.boolean(),
    last_story_detected: NullableTimestamp,
    last_checked_at: NullableTimestamp,
    total_checks: z.number().int(),
    total_detections: z.number().int(),
    created_at: Timestamp,
  })
  .openapi('Profile');
export const ProfilePage = pageOf(Profile, 'ProfilePage');

const UsernameList = (max: number) =>
  z
    // no length cap per item here: the repository names every invalid username at once
    .array(z.string())
    .min(1, 'give at least one username')
    .max(max, `at most ${max} usernames per request`)
    .openapi({
      description: 'trimmed, a leading "@" dropped, lower-cased; must then match ^[a-z0-9._]{1,30}$',
      example: ['@some.user', 'other_user'],
    });

export const CreateProfiles = z
  .object({ usernames: UsernameList(10_000), niche_id: Uuid.nullish() })
  .openapi('CreateProfiles');
export const CreatedProfiles = z
  .object({ created: z.number().int(), existing: z.number().int(), items: z.array(Profile) })
  .openapi('CreatedProfiles');
export const ProfileQuery = PageQuery.extend({
  niche_id: Uuid.optional().openapi({ param: { name: 'niche_id', in: 'query' } }),
  active_story: z
    .enum(['true', 'false'], { error: 'active_story must be true or false' })
    .optional()
    .openapi({ param: { name: 'active_story', in: 'query' } }),
});

// ---------- proxies and sessions ----------

export const ProxyStatus = z.enum(['active', 'cooling_down', 'disabled']);
export const Proxy = z
  .object({
    id: Uuid,
    url: z.string().openapi({ description: 'without credentials', example: 'http://127.0.0.1:8080' }),
    status: ProxyStatus,
    disabled_reason: z
      .enum(['operator', 'failures'])
      .nullable()
      .openapi({ description: 'operator: only an operator re-enables it; failures: the proxy-health schedule re-enables it once it answers' }),
    last_error: z.string().nullable().openapi({ description: 'the last failure through this proxy, or of its last probe' }),
    last_checked_at: NullableTimestamp.openapi({ description: 'when the proxy-health schedule last probed it' }),
    rate_limited_until: NullableTimestamp,
    last_used_at: NullableTimestamp,
    success_count: z.number().int(),
    failure_count: z.number().int(),
    consecutive_failures: z.number().int(),
    created_at: Timestamp,
  })
  .openapi('Proxy');
export const ProxyPage = pageOf(Proxy, 'ProxyPage');
export const CreateProxy = z
  .object({
    url: z
      .string()
      .min(1, 'url is required')
      .max(2048, 'url is too long')
      .openapi({ example: 'http://user:pass@127.0.0.1:8080', description: 'http or https; credentials may be embedded' }),
    username: z.string().max(1024).nullish(),
    password: z.string().max(1024).nullish().openapi({ writeOnly: true }),
  })
  .openapi('CreateProxy');
export const UpdateProxy = z
  .object({ status: z.enum(['active', 'disabled'], { error: 'status must be active or disabled' }) })
  .openapi('UpdateProxy');

export const Session = z
  .object({
    id: Uuid,
    proxy_id: Uuid.nullable(),
    status: z.enum(['valid', 'invalid']),
    last_used_at: NullableTimestamp,
    created_at: Timestamp,
  })
  .openapi('Session');
export const SessionPage = pageOf(Session, 'SessionPage');
export const CreateSession = z
  .object({
    token: z.string().min(1, 'token is required').max(8192, 'token is too long').openapi({ writeOnly: true }),
    proxy_id: Uuid.nullish(),
  })
  .openapi('CreateSession');

// ---------- batches ----------

export const BatchStatus = z.enum(BATCH_STATUSES);
export const Batch = z
  .object({
    id: Uuid,
    name: z.string().nullable(),
    status: BatchStatus,
    position: z
      .number()
      .int()
      .nullable()
      .openapi({ description: '0 = running, 1..n = place in the queue, null = not in the queue' }),
    priority: z.number().int(),
    total_profiles: z.number().int(),
    completed_profiles: z.number().int(),
    successful_checks: z.number().int(),
    failed_checks: z.number().int(),
    stories_found: z.number().int(),
    completion_rate: z.number().min(0).max(1),
    error: z.string().nullable(),
    stalled_reason: z
      .enum(['no_usable_proxy', 'upstream_unreachable', 'no_valid_session', 'queue_held'])
      .nullable()
      .openapi({ description: 'why a running batch has made no progress for BATCH_STALL_AFTER_MS; null while work flows' }),
    stalled_since: NullableTimestamp,
    created_at: Timestamp,
    started_at: NullableTimestamp,
    completed_at: NullableTimestamp,
    workflow_id: z.string().nullable(),
  })
  .openapi('Batch');
export const BatchPage = pageOf(Batch, 'BatchPage');

export const MAX_BATCH_PROFILES = 100_000;

export const CreateBatch = z
  .object({
    name: z.string().trim().max(200, 'name must be at most 200 characters').nullish(),
    priority: z
      .number({ error: 'priority must be a number' })
      .int('priority must be a whole number')
      .min(-1_000_000)
      .max(1_000_000)
      .optional()
      .openapi({ description: 'higher runs first', default: 0 }),
    hold: z.boolean({ error: 'hold must be true or false' }).optional().openapi({
      description: 'create paused, outside the queue',
      default: false,
    }),
    profile_ids: z
      .array(Uuid)
      .max(MAX_BATCH_PROFILES, `at most ${MAX_BATCH_PROFILES} profile ids`)
      .optional()
      .openapi({ description: 'source 1: these profiles, in this order' }),
    niche_id: Uuid.optional().openapi({ description: 'source 2: every profile of the niche' }),
    usernames: z
      .array(z.string())
      .max(MAX_BATCH_PROFILES, `at most ${MAX_BATCH_PROFILES} usernames`)
      .optional()
      .openapi({ description: 'source 3: these usernames, created when missing' }),
  })
  .openapi('CreateBatch', { description: 'exactly one of profile_ids, niche_id, usernames' });

export const BatchQuery = PageQuery.extend({
  status: BatchStatus.optional().openapi({ param: { name: 'status', in: 'query' } }),
});

export const BatchProfile = z
  .object({
    profile_id: Uuid,
    username: z.string(),
    status: z.enum(BATCH_PROFILE_STATUSES),
    has_story: z.boolean().nullable(),
    story_count: z.number().int().nullable(),
    error: z.string().nullable(),
    attempts: z.number().int(),
    proxy_id: Uuid.nullable(),
    duration_ms: z.number().int().nullable(),
    checked_at: NullableTimestamp,
  })
  .openapi('BatchProfile');
export const BatchProfilePage = pageOf(BatchProfile, 'BatchProfilePage');
export const BatchProfileQuery = PageQuery.extend({
  status: z.enum(BATCH_PROFILE_STATUSES).optional().openapi({ param: { name: 'status', in: 'query' } }),
});

export const LogItem = z
  .object({
    id: Uuid,
    batch_id: Uuid.nullable(),
    profile_id: Uuid.nullable(),
    proxy_id: Uuid.nullable(),
    level: z.enum(LOG_LEVELS),
    event_type: z.string(),
    message: z.string(),
    details: z.unknown(),
    duration_ms: z.number().int().nullable(),
    created_at: Timestamp,
  })
  .openapi('LogItem');
export const LogPage = pageOf(LogItem, 'LogPage');
export const LogQuery = PageQuery.extend({
  level: z.enum(LOG_LEVELS).optional().openapi({ param: { name: 'level', in: 'query' } }),
  event_type: z
    .string()
    .regex(/^[A-Z][A-Z_]*$/, 'event_type is an upper-case name such as BATCH_STARTED')
    .max(100)
    .optional()
    .openapi({ param: { name: 'event_type', in: 'query' } }),
});

// ---------- queue ----------

export const Queue = z
  .object({ paused: z.boolean(), running: Batch.nullable(), queued: z.array(Batch) })
  .openapi('Queue');
