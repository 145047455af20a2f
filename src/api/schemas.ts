/**
 * Request and response schemas of the HTTP API (docs/api.md). They are the single source for both request
 * validation and the OpenAPI document served at /openapi.json, so the two cannot drift apart.
 */
import { z } from '@hono/zod-openapi';
import {
  BATCH_PROFILE_STATUSES,
  BATCH_STATUSES,
  DISABLED_REASONS,
  LOG_LEVELS,
  MAX_AGE_S,
  MAX_BATCH_PROFILES,
  MAX_TOKEN_LENGTH,
  PROXY_STATUSES,
  RESULT_SOURCES,
  SESSION_STATUSES,
  STALL_REASONS,
} from '../enums.js';
import { SENDABLE_TOKEN, SENDABLE_TOKEN_RULE } from '../upstream/session-token.js';
import { isUuid } from '../repos/errors.js';
import { OPERATOR_ACTIONS } from '../repos/queue.js';
import { normalizeUsername, USERNAME_INPUT_PATTERN, USERNAME_PART_MESSAGE } from '../repos/profiles.js';
import { batchCursor, idCursor, positionCursor, sequenceCursor, textCursor, type CursorFormat } from './cursors.js';

/** Any 8-4-4-4-12 hex id (what Postgres accepts), not only RFC-variant UUIDs. */
export const Uuid = z.string().refine(isUuid, 'must be a UUID').openapi({ format: 'uuid', example: '0b6f0d4e-3c5a-4a59-9c55-0f2b8c1e7d21' });
export const Timestamp = z.string().openapi({ format: 'date-time' });
const NullableTimestamp = Timestamp.nullable();

// ---------- text input ----------
// Postgres stores no NUL (\u0000) in text, and JSON Schema's maxLength counts characters (code points) where
// String.length counts UTF-16 units: every text field says both, and checks them the way the document reads.

/** What String.prototype.trim removes, spelled out so that the documented pattern reads the same in any dialect. */
const TRIMMED = String.raw`\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff`;
const NO_NUL = new RegExp(String.raw`^[^\u0000]*$`);
const NOT_BLANK = new RegExp(String.raw`^[^\u0000]*[^\u0000${TRIMMED}][^\u0000]*$`);

const characters = (value: string) => [...value].length;

/** Any text without NUL, of at most `max` characters. */
export function text(field: string, max: number) {
  return z
    .string()
    .regex(NO_NUL, `${field} must not contain NUL (\\u0000) characters`)
    .refine((v) => characters(v) <= max, `${field} must be at most ${max} characters`)
    .openapi({ maxLength: max });
}

/** Text holding something besides whitespace (it is trimmed), without NUL, of at most `max` characters. */
export function nonBlankText(field: string, max: number) {
  return z
    .string()
    .regex(NOT_BLANK, `${field} must hold a character other than whitespace, and no NUL (\\u0000)`)
    .refine((v) => characters(v) <= max, `${field} must be at most ${max} characters`)
    .openapi({ maxLength: max })
    .trim();
}

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

/** The `Last-Event-ID` header of an event stream: resume after the event of this id (its seq). */
export function lastEventIdHeader(what: string) {
  return z.object({
    'last-event-id': z
      .string()
      .regex(/^\d{1,15}$/, `Last-Event-ID must be the id of ${what}`)
      .optional()
      .openapi({ param: { name: 'last-event-id', in: 'header' }, description: `resume after this ${what}` }),
  });
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

/** `?limit=`: how many items a page holds at most. */
export const Limit = z.coerce
  .number({ error: 'limit must be a number' })
  .int('limit must be a whole number')
  .min(1, 'limit must be at least 1')
  .max(MAX_LIMIT, `limit must be at most ${MAX_LIMIT}`)
  .default(DEFAULT_LIMIT)
  .openapi({ param: { name: 'limit', in: 'query' }, example: DEFAULT_LIMIT });

/** `?limit=&cursor=` of a list whose cursors have the given format. */
export function pageQuery(cursor: CursorFormat) {
  return z.object({ limit: Limit, cursor: cursor.param });
}

export function pageOf<T extends z.ZodType>(item: T, name: string, cursor: CursorFormat) {
  return z
    .object({
      items: z.array(item),
      next_cursor: z
        .string()
        .regex(cursor.pattern)
        .nullable()
        .openapi({ description: 'pass as ?cursor= for the next page; null on the last' }),
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
export const NichePage = pageOf(Niche, 'NichePage', textCursor);
export const NicheQuery = pageQuery(textCursor);
export const CreateNiche = z
  .object({ name: nonBlankText('name', 200).openapi({ description: 'trimmed; unique' }) })
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
export const ProfilePage = pageOf(Profile, 'ProfilePage', idCursor);

/**
 * One username as given. The pattern is documented here and enforced by the repository, which names
 * every invalid username of a request at once (details.invalid_usernames) instead of the first one.
 */
const UsernameInput = z.string().openapi({
  pattern: USERNAME_INPUT_PATTERN,
  description: 'trimmed, a leading "@" dropped, lower-cased: then 1 to 30 of a-z, 0-9, "." and "_"',
});

const UsernameList = (max: number, emptyMessage: string) =>
  z
    .array(UsernameInput)
    .min(1, emptyMessage)
    .max(max, `at most ${max} usernames per request`)
    .openapi({ example: ['@some.user', 'other_user'] });

export const CreateProfiles = z
  .object({ usernames: UsernameList(10_000, 'give at least one username'), niche_id: Uuid.nullish() })
  .openapi('CreateProfiles');
export const CreatedProfiles = z
  .object({ created: z.number().int(), existing: z.number().int(), items: z.array(Profile) })
  .openapi('CreatedProfiles');
export const ProfileQuery = pageQuery(idCursor).extend({
  niche_id: Uuid.optional().openapi({ param: { name: 'niche_id', in: 'query' } }),
  active_story: z
    .enum(['true', 'false'], { error: 'active_story must be true or false' })
    .optional()
    .openapi({ param: { name: 'active_story', in: 'query' } }),
  // the same pattern as a username on input: any part of a username is one too
  username: z
    .string()
    .refine((v) => normalizeUsername(v) !== null, USERNAME_PART_MESSAGE)
    .optional()
    .openapi({
      param: { name: 'username', in: 'query' },
      pattern: USERNAME_INPUT_PATTERN,
      description: 'profiles whose username contains this text (trimmed, a leading "@" dropped, case-insensitive)',
      example: 'some.us',
    }),
});

// ---------- proxies and sessions ----------

export const ProxyStatus = z.enum(PROXY_STATUSES);
export const Proxy = z
  .object({
    id: Uuid,
    url: z.string().openapi({ description: 'without credentials', example: 'http://127.0.0.1:8080' }),
    status: ProxyStatus,
    disabled_reason: z
      .enum(DISABLED_REASONS)
      .nullable()
      .openapi({ description: 'operator: only an operator re-enables it; failures: the proxy-health schedule re-enables it once it answers' }),
    last_error: z.string().nullable().openapi({ description: 'the last failure through this proxy, or of its last probe' }),
    last_checked_at: NullableTimestamp.openapi({ description: 'when the proxy-health schedule last probed it' }),
    rate_limited_until: NullableTimestamp,
    learned_rate_per_s: z
      .number()
      .nullable()
      .openapi({ description: 'requests per second this proxy sustains without 429s, learned from its answers; null until its first 429' }),
    last_used_at: NullableTimestamp,
    success_count: z.number().int(),
    failure_count: z.number().int(),
    consecutive_failures: z.number().int(),
    created_at: Timestamp,
  })
  .openapi('Proxy');
export const ProxyPage = pageOf(Proxy, 'ProxyPage', textCursor);
export const ProxyQuery = pageQuery(textCursor);

// scheme://[user[:password]@]host[:port][/]: a DNS name whose last label starts with a letter (a numeric
// one would be read as an IPv4 address) or a dotted-quad IPv4 address, and a port 0..65535. Credentials are
// ASCII, percent-encoded where needed, never %00.
const URL_CHAR = String.raw`(?:[A-Za-z0-9._~!$&'()*+,;=-]|%(?:0[1-9A-Fa-f]|[1-7][0-9A-Fa-f]))`;
const LABEL = '[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*';
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const HOST = `(?:(?:${LABEL}\\.)*[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*|(?:${OCTET}\\.){3}${OCTET})`;
const PORT = '(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?';
const SCHEME = '[Hh][Tt][Tt][Pp][Ss]?://';
const PROXY_URL = `^${SCHEME}(?:${URL_CHAR}+(?::${URL_CHAR}*)?@)?${HOST}${PORT}/?$`;
const PROXY_URL_WITHOUT_CREDENTIALS = `^${SCHEME}${HOST}${PORT}/?$`;

export const CreateProxy = z
  .object({
    // one pattern (a schema holds only one), which also keeps NUL out
    url: z
      .string()
      .max(2048, 'url must be at most 2048 characters')
      .regex(new RegExp(PROXY_URL), 'url must be http(s)://[user[:password]@]host[:port] with no path, query or fragment')
      .openapi({ example: 'http://user:pass@127.0.0.1:8080', description: 'http or https; credentials may be embedded' }),
    username: text('username', 1024).min(1, 'username must not be empty (leave it out for none)').nullish(),
    password: text('password', 1024).nullish().openapi({ writeOnly: true }),
  })
  .openapi('CreateProxy', {
    description:
      'Credentials inside url, or as username (required then) and password with a url without them; not both.',
    oneOf: [
      {
        title: 'credentials in url (or none)',
        properties: { username: { type: 'null' }, password: { type: 'null' } },
      },
      {
        title: 'credentials as fields',
        properties: { url: { type: 'string', pattern: PROXY_URL_WITHOUT_CREDENTIALS }, username: { type: 'string', minLength: 1 } },
        required: ['username'],
      },
    ],
  });
export const UpdateProxy = z
  .object({ status: z.enum(['active', 'disabled'], { error: 'status must be active or disabled' }) })
  .openapi('UpdateProxy');

export const Session = z
  .object({
    id: Uuid,
    proxy_id: Uuid.nullable(),
    status: z.enum(SESSION_STATUSES),
    last_used_at: NullableTimestamp,
    created_at: Timestamp,
  })
  .openapi('Session');
export const SessionPage = pageOf(Session, 'SessionPage', idCursor);
export const SessionQuery = pageQuery(idCursor);
export const CreateSession = z
  .object({
    token: nonBlankText('token', MAX_TOKEN_LENGTH)
      .regex(SENDABLE_TOKEN, SENDABLE_TOKEN_RULE)
      .openapi({ writeOnly: true, description: 'trimmed; unique; the `sessionid` cookie value, sent as it is (cookie characters only)' }),
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
      .enum(STALL_REASONS)
      .nullable()
      .openapi({ description: 'why a running batch has made no progress for BATCH_STALL_AFTER_MS; null while work flows' }),
    stalled_since: NullableTimestamp,
    max_age_s: z.number().int().openapi({ description: 'results younger than this many seconds answer a profile from the cache (0 = never)' }),
    created_at: Timestamp,
    started_at: NullableTimestamp,
    completed_at: NullableTimestamp,
    workflow_id: z.string().nullable(),
    watch_id: Uuid.nullable().openapi({ description: 'the watch whose tick created it (null otherwise, or once the watch is deleted)' }),
    scheduled_at: NullableTimestamp.openapi({ description: "the scheduled time of that watch's tick" }),
    actions: z
      .array(z.enum(OPERATOR_ACTIONS))
      .openapi({ description: 'the transitions (POST /batches/{id}/{action}) that its status allows now', example: ['start', 'pause', 'cancel'] }),
  })
  .openapi('Batch');
export const BatchPage = pageOf(Batch, 'BatchPage', batchCursor);

export { MAX_BATCH_PROFILES };

export const CreateBatch = z
  .object({
    name: text('name', 200).trim().nullish().openapi({ description: 'trimmed; blank means none' }),
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
    max_age_s: z
      .number({ error: 'max_age_s must be a number' })
      .int('max_age_s must be a whole number')
      .min(0, 'max_age_s must be at least 0')
      .max(MAX_AGE_S, `max_age_s must be at most ${MAX_AGE_S}`)
      .optional()
      .openapi({
        description:
          'a profile whose last successful upstream check is younger than this many seconds is answered from it, ' +
          'with no request (source "cache"); 0 = always ask. Default: CHECK_MAX_AGE_S',
      }),
    profile_ids: z
      .array(Uuid)
      .min(1, 'the selection holds no profiles')
      .max(MAX_BATCH_PROFILES, `at most ${MAX_BATCH_PROFILES} profile ids`)
      .optional()
      .openapi({ description: 'source 1: these profiles, in this order' }),
    niche_id: Uuid.optional().openapi({ description: 'source 2: every profile of the niche' }),
    usernames: UsernameList(MAX_BATCH_PROFILES, 'the selection holds no profiles')
      .optional()
      .openapi({ description: 'source 3: these usernames, created when missing' }),
  })
  .openapi('CreateBatch', {
    description: 'exactly one of profile_ids, niche_id, usernames',
    oneOf: [{ required: ['profile_ids'] }, { required: ['niche_id'] }, { required: ['usernames'] }],
  });

export const BatchQuery = pageQuery(batchCursor).extend({
  status: BatchStatus.optional().openapi({ param: { name: 'status', in: 'query' } }),
  watch_id: Uuid.optional().openapi({ param: { name: 'watch_id', in: 'query' }, description: "a watch's batches" }),
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
    checked_at: NullableTimestamp.openapi({ description: 'when the result was checked upstream (for a cached one: the original check)' }),
    source: z
      .enum(RESULT_SOURCES)
      .nullable()
      .openapi({ description: 'upstream: checked in this batch; cache: copied from a recent upstream check; null until completed' }),
  })
  .openapi('BatchProfile');
export const BatchProfilePage = pageOf(BatchProfile, 'BatchProfilePage', positionCursor);
export const BatchProfileQuery = pageQuery(positionCursor).extend({
  status: z.enum(BATCH_PROFILE_STATUSES).optional().openapi({ param: { name: 'status', in: 'query' } }),
  has_story: z
    .enum(['true', 'false'], { error: 'has_story must be true or false' })
    .optional()
    .openapi({
      param: { name: 'has_story', in: 'query' },
      description: 'completed profiles whose check found (true) or found no (false) active story',
    }),
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
export const LogPage = pageOf(LogItem, 'LogPage', sequenceCursor);
export const LogQuery = pageQuery(sequenceCursor).extend({
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
  // a union, not Batch.nullable(): the latter documents `allOf: [Batch, {type: [object, null]}]`, which null fails
  .object({ paused: z.boolean(), running: z.union([Batch, z.null()]), queued: z.array(Batch) })
  .openapi('Queue');
