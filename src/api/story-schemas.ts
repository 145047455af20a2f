/**
 * The schemas of a profile's history and of story events (docs/api.md, "Stories"): its story items, its checks
 * across batches, and the events "posted" and "ended" that the list, the export and the stream of /events show.
 */
import { z } from '@hono/zod-openapi';
import { RESULT_SOURCES, STORY_EVENT_TYPES, STORY_MEDIA_TYPES } from '../enums.js';
import { checkCursor, storyItemCursor } from './cursors.js';
import { Limit, pageOf, pageQuery, Timestamp, Uuid } from './schemas.js';

export const StoryItem = z
  .object({
    item_pk: z.string().openapi({ description: "the source's own id of the item (opaque text)" }),
    taken_at: Timestamp,
    expiring_at: Timestamp,
    media_type: z.enum(STORY_MEDIA_TYPES).nullable(),
    status: z.enum(['live', 'ended']).openapi({ description: 'live: not ended and expiring_at still ahead' }),
    ended_at: Timestamp.nullable().openapi({
      description: 'null while live; when it ended: the check that no longer listed it, else its expiring_at',
    }),
    first_seen_at: Timestamp,
    first_seen_batch_id: Uuid.nullable().openapi({ description: 'null once that batch is deleted' }),
    last_seen_at: Timestamp,
    last_seen_batch_id: Uuid.nullable(),
  })
  .openapi('StoryItem');
export const StoryItemPage = pageOf(StoryItem, 'StoryItemPage', storyItemCursor);
export const StoryItemQuery = pageQuery(storyItemCursor);

export const ProfileCheck = z
  .object({
    batch_id: Uuid,
    batch_name: z.string().nullable(),
    checked_at: Timestamp.openapi({ description: 'when the result was checked upstream (for a cached one: the original check)' }),
    status: z.enum(['completed', 'failed']),
    has_story: z.boolean().nullable(),
    story_count: z.number().int().nullable(),
    source: z.enum(RESULT_SOURCES).nullable(),
    error: z.string().nullable(),
    duration_ms: z.number().int().nullable(),
    proxy_id: Uuid.nullable(),
  })
  .openapi('ProfileCheck');
export const ProfileCheckPage = pageOf(ProfileCheck, 'ProfileCheckPage', checkCursor);
export const ProfileCheckQuery = pageQuery(checkCursor);

export const StoryEventType = z.enum(STORY_EVENT_TYPES, { error: `type must be ${STORY_EVENT_TYPES.join(' or ')}` });

export const StoryEvent = z
  .object({
    seq: z.number().int().openapi({ description: 'its place in commit order; the SSE id on the stream' }),
    type: StoryEventType,
    profile_id: Uuid,
    username: z.string(),
    niche_id: Uuid.nullable().openapi({ description: "the profile's niche now" }),
    item_pk: z.string(),
    batch_id: Uuid.nullable().openapi({ description: 'the batch whose check saw it happen (null once that batch is deleted)' }),
    occurred_at: Timestamp.openapi({
      description: 'posted: the item\'s taken_at; ended: its expiring_at when that passed, else the check that found it gone',
    }),
    recorded_at: Timestamp.openapi({ description: 'when the event was stored' }),
    details: z
      .object({ taken_at: Timestamp, expiring_at: Timestamp, media_type: z.enum(STORY_MEDIA_TYPES).nullable() })
      .partial()
      .loose()
      .openapi({ description: 'the item: taken_at, expiring_at, media_type' }),
  })
  .openapi('StoryEvent');

/** Sequence numbers are bigints far below 2^53; 15 digits is what the stream's Last-Event-ID takes too. */
const MAX_SEQ = 999_999_999_999_999;

/** `?type=&niche_id=&profile_id=`: the filters of the list, the export and the stream alike. */
export const StoryEventFilterQuery = z.object({
  type: StoryEventType.optional().openapi({ param: { name: 'type', in: 'query' } }),
  niche_id: Uuid.optional().openapi({ param: { name: 'niche_id', in: 'query' }, description: "events of the profiles now in this niche" }),
  profile_id: Uuid.optional().openapi({ param: { name: 'profile_id', in: 'query' } }),
});

/** `?after=`: events with a greater seq (0, the default, is from the first). */
export const AfterSeq = z.coerce
  .number({ error: 'after must be a number' })
  .int('after must be a whole number')
  .min(0, 'after must be at least 0')
  .max(MAX_SEQ, `after must be at most ${MAX_SEQ}`);

export const StoryEventQuery = StoryEventFilterQuery.extend({
  after: AfterSeq.default(0).openapi({ param: { name: 'after', in: 'query' }, description: 'events with a greater seq: the next_after of the previous page' }),
  limit: Limit,
  latest: z
    .enum(['true', 'false'], { error: 'latest must be true or false' })
    .optional()
    .openapi({
      param: { name: 'latest', in: 'query' },
      description:
        'true: the newest `limit` matching events (still oldest first) instead of the first ones, and next_after the ' +
        'newest seq of all: a stream opened after it (GET /events/stream?after=) misses nothing',
    }),
});

export const StoryEventPage = z
  .object({
    items: z.array(StoryEvent),
    next_after: z.number().int().openapi({
      description:
        'pass as ?after= for the next page: the seq of the last item, or the given after when there is none (with ' +
        'latest=true: the newest seq of any event when the page was read)',
    }),
    has_more: z.boolean().openapi({ description: 'the page is full: more events may follow at once' }),
  })
  .openapi('StoryEventPage');
