/**
 * `GET /events/stream`: story events as Server-Sent Events, fanned out from one reader per API process
 * (polling-feed.ts) that reads every new event once per interval for all the subscribers, whatever their
 * filters. Each event's SSE `event:` is its type, its `id:` its seq, drawn at commit: a subscriber resumes
 * through Last-Event-ID exactly after the last event it got, reading its own gap (with its filters) from Postgres.
 */
import type { Context } from 'hono';
import type { Sql } from '../db/sql.js';
import type { Logger } from '../logging/logger.js';
import { latestStoryEventSeq, matchesStoryEvent, storyEventsAfter, type StoryEventFilter, type StoryEventRow } from '../repos/story-events.js';
import { createFeeds, readAfter, type Feeds, type SequencedEvent, type Subscription, type Tick, type TickReader } from './polling-feed.js';
import { toApiStoryEvent } from './present.js';
import { followFeed, SequencedWriter, streamEvents } from './sse-stream.js';

/** An event as sent, with what the subscribers' filters look at. */
export type StoryEventSse = SequencedEvent & Pick<StoryEventRow, 'type' | 'niche_id' | 'profile_id'>;

export type StoryTick = Tick<StoryEventSse>;

const EVENT_PAGE = 500;
/** Events per tick, so that a burst reaches the subscribers in pieces rather than after all of it is read. */
const MAX_EVENTS_PER_TICK = 5_000;
/** The one feed of the process: every subscriber follows every event, and filters what it sends. */
const ALL = 'all';

/** The Server-Sent Event of one story event (JSON.stringify escapes line breaks, so the data is one line). */
export function storyEventSse(row: StoryEventRow): StoryEventSse {
  const text = `event: ${row.type}\nid: ${row.seq}\ndata: ${JSON.stringify(toApiStoryEvent(row))}\n\n`;
  return { seq: row.seq, type: row.type, niche_id: row.niche_id, profile_id: row.profile_id, text };
}

function storyEventReader(sql: Sql): TickReader<StoryTick> {
  let position: number | null = null;
  return {
    isLast: () => false,
    async read(stopped) {
      position ??= await latestStoryEventSeq(sql);
      const from = position;
      const read = (after: number, limit: number) => storyEventsAfter(sql, after, {}, limit);
      const { rows, to } = await readAfter(read, { from, pageSize: EVENT_PAGE, cap: MAX_EVENTS_PER_TICK, stopped });
      position = to;
      const events = rows.map(storyEventSse);
      return { from, to, events, text: events.map((e) => e.text).join('') };
    },
  };
}

export type StoryFeeds = Feeds<StoryTick>;

export function createStoryFeeds(options: { sql: Sql; intervalMs: number; shutdown?: AbortSignal | undefined }): StoryFeeds {
  return createFeeds({ intervalMs: options.intervalMs, shutdown: options.shutdown, reader: () => storyEventReader(options.sql) });
}

export interface StoryStreamOptions {
  sql: Sql;
  feeds: StoryFeeds;
  logger: Logger;
  filter: StoryEventFilter;
  /** Resume after this seq (Last-Event-ID or ?after=); otherwise only events committed from now on are sent. */
  afterSeq?: number | undefined;
  shutdown?: AbortSignal | undefined;
}

export function streamStoryEvents(c: Context, options: StoryStreamOptions): Response {
  const { sql, feeds, logger, filter } = options;
  return streamEvents(c, { logger, shutdown: options.shutdown, failure: 'story event stream failed' }, async (events) => {
    let subscription: Subscription<StoryTick> | undefined;
    try {
      // the first message tells EventSource how soon to reconnect, and shows the client the stream is open
      await events.stream.write('retry: 2000\n\n');
      const start = options.afterSeq ?? (await latestStoryEventSeq(sql));
      const read = async (after: number, limit: number) => (await storyEventsAfter(sql, after, filter, limit)).map(storyEventSse);
      const unfiltered = filter.type === undefined && filter.nicheId === undefined && filter.profileId === undefined;
      const writer = new SequencedWriter(events.stream, start, read, unfiltered ? null : (e) => matchesStoryEvent(filter, e), events.gone);
      // joins the shared reader first, so that its ticks queue while this one catches up
      subscription = feeds.subscribe(ALL);
      if (options.afterSeq !== undefined) await writer.catchUp();
      await followFeed(subscription, events, writer, async (tick) => {
        await writer.events(tick);
        return false;
      });
    } finally {
      subscription?.close();
    }
  });
}
