/**
 * The newest story events that match a filter, read through `GET /events`, which only pages forward
 * (`seq > after`, oldest first). Walking every page from the start would read the whole retained history (months
 * of events) to show its last screenful; instead the newest matching seq is found by probing single events
 * (galloping, then halving: a few dozen small requests whatever the history's size), and only a window just
 * below it is read, widened until it holds enough events.
 */
import type { ApiStoryEvent, EventPage } from './api.js';

/** Reads the page of at most `limit` matching events with seq > `after`. */
export type LoadEvents = (after: number, limit: number) => Promise<EventPage>;

export interface LatestEvents {
  /** The newest matching events, oldest first. */
  items: ApiStoryEvent[];
  /** The seq to continue after (the stream resumes here): every matching event above it is still to come. */
  after: number;
}

/** Events per request while reading the final window. */
const WINDOW_PAGE = 500;
/** The first galloping step, in seqs. */
const FIRST_STEP = 1024;

export async function latestEvents(load: LoadEvents, want: number): Promise<LatestEvents> {
  const head = await newestSeq(load);
  if (head === null) return { items: [], after: 0 };
  // seqs are not dense (each commit renumbers its events, a filter skips most of them): widen until enough are found
  for (let span = want * 4; ; span *= 8) {
    const from = Math.max(0, head - span);
    const window = await readAfter(load, from, want);
    if (window.items.length >= want || from === 0) return window;
  }
}

/** Every matching event after `from`, page by page to the end, keeping only the newest `want`. */
async function readAfter(load: LoadEvents, from: number, want: number): Promise<LatestEvents> {
  let items: ApiStoryEvent[] = [];
  let after = from;
  for (;;) {
    const page = await load(after, WINDOW_PAGE);
    items = [...items, ...page.items].slice(-want);
    after = page.next_after;
    if (!page.has_more) return { items, after };
  }
}

/** The first matching event with seq > `after`, if any. */
async function firstAfter(load: LoadEvents, after: number): Promise<number | null> {
  return (await load(after, 1)).items[0]?.seq ?? null;
}

/** The newest matching seq (null: none matches). */
async function newestSeq(load: LoadEvents): Promise<number | null> {
  // lo: a matching seq; hi, once known: no matching seq was above it when asked
  let lo = await firstAfter(load, 0);
  if (lo === null) return null;
  let hi: number | null = null;
  for (let step = FIRST_STEP; hi === null; step *= 2) {
    const probe = lo + step;
    const found = await firstAfter(load, probe);
    if (found === null) hi = probe;
    else lo = found;
  }
  while (hi > lo) {
    const mid = Math.floor((lo + hi) / 2);
    const found = await firstAfter(load, mid);
    if (found === null) hi = mid;
    else lo = found; // above mid, so lo grows; an event committed meanwhile may even take it past hi, which ends the search
  }
  return lo;
}
