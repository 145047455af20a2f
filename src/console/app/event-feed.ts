/**
 * The story events as they happen: the newest ones first (`GET /events?latest=true`), then `GET /events/stream` from
 * exactly where those ended, so nothing committed in between is missed or shown twice. The browser's EventSource
 * resumes by itself with Last-Event-ID after a dropped connection; a stream the server refused (signed out,
 * unavailable) is opened again after a pause, after the newest event shown.
 */
import { useEffect, useState } from 'preact/hooks';
import { STORY_EVENT_TYPES, type StoryEventType } from '../../enums.js';
import { ApiError, get, withQuery, type ApiStoryEvent, type EventPage } from './api.js';

export interface EventFilters {
  niche_id?: string;
  type?: StoryEventType;
}

export interface EventFeed {
  /** Newest first, at most the number kept. */
  events: ApiStoryEvent[];
  /** The newest events have been read (the list is what there is, not "not loaded yet"). */
  loaded: boolean;
  /** The stream is connected: new events appear as they are committed. */
  live: boolean;
  error: unknown;
}

const REOPEN_MS = 5_000;
const START: EventFeed = { events: [], loaded: false, live: false, error: null };

export function useStoryEvents(filters: EventFilters, keep = 200): EventFeed {
  const [feed, setFeed] = useState<EventFeed>(START);
  useEffect(() => {
    let closed = false;
    let source: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    // the newest seq shown: the stream resumes after it, and anything at or below it is already on screen
    let newest = 0;
    setFeed(START);

    const add = (events: ApiStoryEvent[]) => {
      const fresh = events.filter((e) => e.seq > newest);
      if (fresh.length === 0) return;
      newest = fresh[fresh.length - 1]!.seq;
      const newestFirst = fresh.reverse();
      setFeed((f) => ({ ...f, events: [...newestFirst, ...f.events].slice(0, keep) }));
    };
    const failed = (err: unknown, again: () => void) => {
      setFeed((f) => ({ ...f, live: false, error: err }));
      retry = setTimeout(again, REOPEN_MS);
    };
    const open = () => {
      if (closed) return;
      source = new EventSource(withQuery('/events/stream', { ...filters, after: newest }));
      source.onopen = () => setFeed((f) => ({ ...f, live: true, error: null }));
      for (const type of STORY_EVENT_TYPES) source.addEventListener(type, (e) => add([JSON.parse(e.data) as ApiStoryEvent]));
      source.onerror = () => {
        if (closed || !source) return;
        const interrupted = new ApiError(0, 'stream', 'Live events are interrupted; reconnecting…');
        // a refused stream (401, 503) is given up by the browser: open it again later
        if (source.readyState === EventSource.CLOSED) failed(interrupted, open);
        else setFeed((f) => ({ ...f, live: false, error: interrupted }));
      };
    };
    const start = () => {
      // the newest events first, then the stream from where they were read: nothing in between is missed
      get<EventPage>('/events', { ...filters, latest: 'true', limit: keep }).then(
        (latest) => {
          if (closed) return;
          add(latest.items);
          newest = Math.max(newest, latest.next_after);
          setFeed((f) => ({ ...f, loaded: true }));
          open();
        },
        (err: unknown) => {
          if (!closed) failed(err, start);
        },
      );
    };
    start();
    return () => {
      closed = true;
      clearTimeout(retry);
      source?.close();
    };
  }, [filters.niche_id, filters.type, keep]);
  return feed;
}
