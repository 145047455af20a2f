/**
 * Story events: GET /events (a page in seq order, resumed with ?after=) and GET /events/stream (Server-Sent
 * Events from one reader per API process, resumed with Last-Event-ID).
 */
import { z } from '@hono/zod-openapi';
import { storyEventsAfter, type StoryEventFilter } from '../../repos/story-events.js';
import { toApiStoryEvent } from '../present.js';
import { createRoute, createRouter, errors, json, type RouterDeps } from '../router.js';
import { createStoryFeeds, streamStoryEvents } from '../story-stream.js';
import { AfterSeq, StoryEventFilterQuery, StoryEventPage, StoryEventQuery } from '../story-schemas.js';

const list = createRoute({
  method: 'get',
  path: '/events',
  tags: ['events'],
  summary: 'Story events (story.posted, story.ended) after a sequence number, in commit order',
  description: 'Page on with ?after=next_after; has_more says the page was full. The filters apply together.',
  request: { query: StoryEventQuery },
  responses: { 200: json(StoryEventPage, 'a page of story events'), ...errors(400) },
});

const stream = createRoute({
  method: 'get',
  path: '/events/stream',
  tags: ['events'],
  summary: 'Story events live, as Server-Sent Events',
  description:
    'Each event: `event:` its type (story.posted or story.ended), `id:` its seq, `data:` the StoryEvent. Without ' +
    'Last-Event-ID (or ?after=) it sends the events committed from now on; with it, it resumes exactly after that ' +
    'seq. A `: keep-alive` comment after 15 s of silence; the first message sets `retry: 2000`.',
  request: {
    query: StoryEventFilterQuery.extend({
      after: AfterSeq.optional().openapi({ param: { name: 'after', in: 'query' }, description: 'resume after this seq (Last-Event-ID wins)' }),
    }),
    headers: z.object({
      'last-event-id': z
        .string()
        .regex(/^\d{1,15}$/, 'Last-Event-ID must be the id of a story event')
        .optional()
        .openapi({ param: { name: 'last-event-id', in: 'header' }, description: 'resume after this event' }),
    }),
  },
  responses: {
    200: { description: 'an event stream', content: { 'text/event-stream': { schema: z.string() } } },
    ...errors(400),
  },
});

function filterOf(query: { type?: StoryEventFilter['type']; niche_id?: string | undefined; profile_id?: string | undefined }): StoryEventFilter {
  return { type: query.type, nicheId: query.niche_id?.toLowerCase(), profileId: query.profile_id?.toLowerCase() };
}

export function eventsRouter(deps: RouterDeps) {
  const { sql, backgroundSql, logger, eventsIntervalMs, shutdown } = deps;
  // one reader for every stream of this app, on the background pool, as for the batch streams
  const feeds = createStoryFeeds({ sql: backgroundSql, intervalMs: eventsIntervalMs, shutdown });

  return createRouter()
    .openapi(list, async (c) => {
      const query = c.req.valid('query');
      const rows = await storyEventsAfter(sql, query.after, filterOf(query), query.limit);
      const items = rows.map(toApiStoryEvent);
      return c.json({ items, next_after: items.at(-1)?.seq ?? query.after, has_more: items.length === query.limit }, 200);
    })
    .openapi(stream, (c) => {
      const query = c.req.valid('query');
      const lastEventId = c.req.valid('header')['last-event-id'];
      const afterSeq = lastEventId !== undefined ? Number(lastEventId) : query.after;
      return streamStoryEvents(c, { sql: backgroundSql, feeds, logger, filter: filterOf(query), afterSeq, shutdown });
    });
}
