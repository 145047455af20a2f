/**
 * Story events: GET /events (a page in seq order, resumed with ?after=) and GET /events/stream (Server-Sent
 * Events from one reader per API process, resumed with Last-Event-ID).
 */
import type { z } from '@hono/zod-openapi';
import { latestStoryEvents, storyEventsAfter, storyEventsCursor, type StoryEventFilter, type StoryEventRow } from '../../repos/story-events.js';
import { EXPORT_ROWS_PER_READ, exportableListRoute, exportResponse, formatParam, requestedFormat } from '../export-response.js';
import { toApiStoryEvent } from '../present.js';
import { createRoute, createRouter, errors, eventStream, type RouterDeps } from '../router.js';
import { createStoryFeeds, streamStoryEvents } from '../story-stream.js';
import { lastEventIdHeader } from '../schemas.js';
import { AfterSeq, StoryEvent, StoryEventFilterQuery, StoryEventPage, StoryEventQuery } from '../story-schemas.js';

const EVENT_FORMATS = ['ndjson'] as const;

const list = exportableListRoute({
  path: '/events',
  tags: ['events'],
  summary: 'Story events (story.posted, story.ended) after a sequence number, in commit order',
  description:
    'Page on with ?after=next_after; has_more says the page was full. The filters apply together. With latest=true, ' +
    'the newest matching events, and next_after where a stream should start so that it misses none. ',
  request: { query: StoryEventQuery.extend({ format: formatParam(EVENT_FORMATS) }) },
  page: StoryEventPage,
  errors: [400],
}, { holds: 'every matching event after `after`', name: 'events', formats: EVENT_FORMATS });

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
    headers: lastEventIdHeader('a story event'),
  },
  responses: { 200: eventStream(), ...errors(400) },
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
      const file = requestedFormat(c, EVENT_FORMATS, query.format);
      if (file !== null) {
        const response = await exportResponse<StoryEventRow>(c, {
          sql,
          logger,
          format: file,
          filename: 'events',
          columns: Object.keys(StoryEvent.shape),
          rows: (on) => storyEventsCursor(on, query.after, filterOf(query), EXPORT_ROWS_PER_READ),
          present: toApiStoryEvent,
        });
        // zod-openapi reads application/x-ndjson as a JSON body (the name ends in "json"); the file is a plain Response
        return response as never;
      }
      if (query.latest === 'true') {
        const { rows, head } = await latestStoryEvents(sql, query.after, filterOf(query), query.limit);
        const page: z.infer<typeof StoryEventPage> = { items: rows.map(toApiStoryEvent), next_after: Math.max(head, query.after), has_more: false };
        return c.json(page, 200);
      }
      const rows = await storyEventsAfter(sql, query.after, filterOf(query), query.limit);
      const items = rows.map(toApiStoryEvent);
      const page: z.infer<typeof StoryEventPage> = { items, next_after: items.at(-1)?.seq ?? query.after, has_more: items.length === query.limit };
      return c.json(page, 200);
    })
    .openapi(stream, (c) => {
      const query = c.req.valid('query');
      const lastEventId = c.req.valid('header')['last-event-id'];
      const afterSeq = lastEventId !== undefined ? Number(lastEventId) : query.after;
      return streamStoryEvents(c, { sql: backgroundSql, feeds, logger, filter: filterOf(query), afterSeq, shutdown });
    });
}
