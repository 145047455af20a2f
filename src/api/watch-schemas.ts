/**
 * Request and response schemas of the watch routes (docs/api.md "Watches"): the source of both their validation
 * and their part of the OpenAPI document. A cron expression and a time zone are checked by the repository
 * (src/repos/watch-cadence.ts), which names the field; the schemas bound their length.
 */
import { z } from '@hono/zod-openapi';
import { MAX_AGE_S, WATCH_TICK_RESULTS } from '../enums.js';
import { WATCH_SKIP_REASONS } from '../repos/watch-ticks.js';
import { MAX_EVERY_S, MAX_JITTER_S, MIN_EVERY_S } from '../repos/watch-cadence.js';
import { batchCursor } from './cursors.js';
import { Batch, MAX_BATCH_PROFILES, nonBlankText, pageOf, pageQuery, text, Timestamp, Uuid } from './schemas.js';

const int = (field: string) => z.number({ error: `${field} must be a number` }).int(`${field} must be a whole number`);

const watchFields = {
  name: nonBlankText('name', 200).openapi({ description: 'trimmed; its batches are named "<name> <scheduled time>"' }),
  niche_id: Uuid.optional().openapi({ description: 'selection 1: every profile of the niche, read at each tick' }),
  profile_ids: z
    .array(Uuid)
    .min(1, 'profile_ids holds no profiles')
    .max(MAX_BATCH_PROFILES, `at most ${MAX_BATCH_PROFILES} profile ids`)
    .optional()
    .openapi({ description: 'selection 2: these profiles, in this order' }),
  every_s: int('every_s')
    .min(MIN_EVERY_S, `every_s must be at least ${MIN_EVERY_S}`)
    .max(MAX_EVERY_S, `every_s must be at most ${MAX_EVERY_S}`)
    .optional()
    .openapi({ description: 'cadence 1: a tick every this many seconds' }),
  cron: text('cron', 200).min(1, 'cron must not be empty')
    .optional()
    .openapi({
      description:
        'cadence 2: five fields (minute hour day-of-month month day-of-week: `*`, numbers, ranges a-b, steps /n, ' +
        'comma lists, JAN..DEC, SUN..SAT) or @hourly, @daily, @weekly, @monthly, @yearly; in `timezone`',
      example: '*/15 * * * *',
    }),
  timezone: text('timezone', 100).min(1, 'timezone must not be empty').optional().openapi({ description: 'IANA time zone of a cron cadence', default: 'UTC', example: 'Europe/Paris' }),
  jitter_s: int('jitter_s')
    .min(0, 'jitter_s must be at least 0')
    .max(MAX_JITTER_S, `jitter_s must be at most ${MAX_JITTER_S}`)
    .optional()
    .openapi({ description: 'each tick is delayed by a random 0..jitter_s seconds', default: 0 }),
  max_age_s: int('max_age_s')
    .min(0, 'max_age_s must be at least 0')
    .max(MAX_AGE_S, `max_age_s must be at most ${MAX_AGE_S}`)
    .optional()
    .openapi({ description: "the batches' max_age_s (see CreateBatch). Default: CHECK_MAX_AGE_S" }),
  priority: int('priority').min(-1_000_000).max(1_000_000).optional().openapi({ description: "the batches' priority", default: 0 }),
};

/** Exactly one selection and (on create) exactly one cadence, as the document says it. */
const oneSelection = { oneOf: [{ required: ['niche_id'] }, { required: ['profile_ids'] }] };
const oneCadence = { oneOf: [{ required: ['every_s'] }, { required: ['cron'] }] };
const notBoth = (a: string, b: string) => ({ not: { required: [a, b] } });

export const CreateWatch = z
  .object({
    ...watchFields,
    paused: z.boolean({ error: 'paused must be true or false' }).optional().openapi({ description: 'create paused', default: false }),
  })
  .openapi('CreateWatch', {
    description: 'exactly one of niche_id, profile_ids; exactly one of every_s, cron',
    allOf: [oneSelection, oneCadence],
  });

export const UpdateWatch = z
  .object({
    name: watchFields.name.optional(),
    niche_id: watchFields.niche_id,
    profile_ids: watchFields.profile_ids,
    every_s: watchFields.every_s,
    cron: watchFields.cron,
    timezone: watchFields.timezone,
    jitter_s: watchFields.jitter_s,
    max_age_s: watchFields.max_age_s,
    priority: watchFields.priority,
  })
  .openapi('UpdateWatch', {
    description: 'any of the fields; a selection replaces the other kind (at most one of niche_id, profile_ids), likewise a cadence',
    allOf: [notBoth('niche_id', 'profile_ids'), notBoth('every_s', 'cron')],
  });

export const WatchTick = z
  .object({
    at: Timestamp.openapi({ description: 'the scheduled time of the last tick' }),
    result: z.enum(WATCH_TICK_RESULTS),
    skip_reason: z.enum(WATCH_SKIP_REASONS).nullable(),
  })
  .openapi('WatchTick');

export const WatchAction = z
  .object({ scheduled_at: Timestamp, taken_at: Timestamp, workflow_id: z.string() })
  .openapi('WatchAction');

export const Watch = z
  .object({
    id: Uuid,
    name: z.string(),
    niche_id: Uuid.nullable(),
    profile_ids: z
      .array(Uuid)
      .nullable()
      .openapi({ description: 'the profiles of a profile watch (GET /watches/{id} only; null in lists and for a niche watch)' }),
    profile_count: z.number().int().openapi({ description: 'profiles the selection holds now' }),
    every_s: z.number().int().nullable(),
    cron: z.string().nullable(),
    timezone: z.string(),
    jitter_s: z.number().int(),
    max_age_s: z.number().int(),
    priority: z.number().int(),
    paused: z.boolean(),
    schedule_id: z.string().openapi({ description: 'the Temporal Schedule (Web UI, Schedules)', example: 'watch-0b6f0d4e-3c5a-4a59-9c55-0f2b8c1e7d21' }),
    created_at: Timestamp,
    updated_at: Timestamp,
    last_tick: z.union([WatchTick, z.null()]),
    ticks_skipped: z.number().int(),
    last_batch: z.union([Batch, z.null()]).openapi({ description: 'the batch of the latest tick that created one' }),
    next_runs: z.array(Timestamp).openapi({ description: "the Schedule's next tick times (up to 5; empty while Temporal does not answer)" }),
    recent_actions: z.array(WatchAction).openapi({ description: "the Schedule's recent ticks" }),
  })
  .openapi('Watch');

export const WatchPage = pageOf(Watch, 'WatchPage', batchCursor);
export const WatchQuery = pageQuery(batchCursor);
