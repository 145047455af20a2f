/**
 * One reader for all the subscribers of a process to one feed (a batch's logs and progress, the story events).
 * However many clients follow it, the feed is read once per interval, each new row rendered once as a
 * Server-Sent Event, and every subscriber gets the same tick. A reader starts with the first subscriber and
 * stops when the last one leaves, when its tick says there is nothing more to come, or when a read fails (each
 * subscriber is told; the next subscriber starts a new reader).
 *
 * A tick carries every event of the feed with a seq in (from, to], in commit order: a subscriber that has
 * handled everything up to `from` writes the tick in one piece; one that is behind (it resumed from an older
 * Last-Event-ID, or its queue overflowed) reads the gap itself first (sse-stream.ts). Both sides read
 * prefixes of one order, so nothing is skipped or sent twice.
 */
import { sleep } from '../process/timeouts.js';

/** An event as sent: its place in commit order, rendered once and written to every subscriber as is. */
export interface SequencedEvent {
  seq: number;
  text: string;
}

export interface Tick<E extends SequencedEvent = SequencedEvent> {
  /** Every event of the feed with from < seq ≤ to is in events; none above `to` was visible. */
  from: number;
  to: number;
  events: readonly E[];
  /** All of events in one piece, for the subscribers that are exactly at `from`. */
  text: string;
}

export type FeedItem<T> = { tick: T } | { error: unknown };

export interface Subscription<T> {
  /** Waits up to `timeoutMs` (or until `signal` aborts) for items, then takes every queued one. */
  take(timeoutMs: number, signal: AbortSignal): Promise<Array<FeedItem<T>>>;
  /** Leaves the feed; the last subscriber to leave stops the reader. */
  close(): void;
}

/** What a feed reads each interval. */
export interface TickReader<T> {
  read(stopped: () => boolean): Promise<T>;
  /** Whether nothing more can follow this tick: its subscribers end with it, and the reader stops. */
  isLast(tick: T): boolean;
}

export interface Feeds<T> {
  subscribe(key: string): Subscription<T>;
}

/** A subscriber this far behind the shared reader drops the queued events and reads them back itself. */
const MAX_QUEUED_ROWS = 5_000;
/** ...and, for a client that stopped reading, the queued ticks: only the newest one matters then. */
const MAX_QUEUED_TICKS = 100;

class Subscriber<T extends Tick> implements Subscription<T> {
  private queue: Array<FeedItem<T>> = [];
  private queuedRows = 0;
  private wake: (() => void) | null = null;

  constructor(private readonly leave: (s: Subscriber<T>) => void) {}

  push(item: FeedItem<T>): void {
    if ('tick' in item) this.queuedRows += item.tick.events.length;
    this.queue.push(item);
    if (this.queuedRows > MAX_QUEUED_ROWS || this.queue.length > MAX_QUEUED_TICKS) this.collapse();
    this.wakeUp();
  }

  /** Ends a pending take() at once (at shutdown: the stream then sees that it must stop). */
  wakeUp(): void {
    this.wake?.();
  }

  /** Keeps only the newest tick, without events: the subscriber sees the gap and reads it from Postgres. */
  private collapse(): void {
    const last = this.queue[this.queue.length - 1];
    if (last === undefined || !('tick' in last)) return;
    this.queue = [{ tick: { ...last.tick, from: last.tick.to, events: [], text: '' } }];
    this.queuedRows = 0;
  }

  async take(timeoutMs: number, signal: AbortSignal): Promise<Array<FeedItem<T>>> {
    if (this.queue.length === 0 && !signal.aborted && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          this.wake = null;
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        signal.addEventListener('abort', done, { once: true });
        this.wake = done;
      });
    }
    const items = this.queue;
    this.queue = [];
    this.queuedRows = 0;
    return items;
  }

  close(): void {
    this.leave(this);
  }
}

class PollingFeed<T extends Tick> {
  readonly subscribers = new Set<Subscriber<T>>();
  private readonly stop = new AbortController();

  constructor(
    private readonly reader: TickReader<T>,
    private readonly intervalMs: number,
  ) {}

  get stopped(): boolean {
    return this.stop.signal.aborted;
  }

  halt(): void {
    this.stop.abort();
  }

  /** Stops reading and wakes every subscriber. */
  end(): void {
    this.halt();
    for (const s of this.subscribers) s.wakeUp();
  }

  async run(): Promise<void> {
    try {
      while (!this.stopped) {
        const tick = await this.reader.read(() => this.stopped);
        if (this.stopped) return;
        for (const s of this.subscribers) s.push({ tick });
        if (this.reader.isLast(tick)) return;
        await sleep(this.intervalMs, this.stop.signal);
      }
    } catch (error) {
      if (!this.stopped) for (const s of this.subscribers) s.push({ error });
    } finally {
      this.halt();
    }
  }
}

export interface FeedsOptions<T> {
  intervalMs: number;
  /** The reader of one feed, made when its first subscriber comes (again). */
  reader: (key: string) => TickReader<T>;
  /** Aborted at server shutdown: every reader stops and every waiting subscriber wakes up to end its stream. */
  shutdown?: AbortSignal | undefined;
}

export function createFeeds<T extends Tick>(options: FeedsOptions<T>): Feeds<T> {
  const feeds = new Map<string, PollingFeed<T>>();
  // one listener for all streams, rather than one each on a signal every stream shares
  const endAll = () => {
    for (const feed of feeds.values()) feed.end();
  };
  options.shutdown?.addEventListener('abort', endAll, { once: true });

  const leave = (key: string, feed: PollingFeed<T>) => (s: Subscriber<T>) => {
    feed.subscribers.delete(s);
    if (feed.subscribers.size === 0) feed.halt();
    if (feed.stopped && feeds.get(key) === feed) feeds.delete(key);
  };

  return {
    subscribe(key) {
      let feed = feeds.get(key);
      if (feed === undefined || feed.stopped) {
        const started = new PollingFeed(options.reader(key), options.intervalMs);
        feeds.set(key, started);
        // run() reports its own failures to the subscribers and never rejects
        void started.run().finally(() => {
          if (feeds.get(key) === started) feeds.delete(key);
        });
        feed = started;
      }
      const subscriber = new Subscriber<T>(leave(key, feed));
      feed.subscribers.add(subscriber);
      return subscriber;
    },
  };
}

/**
 * The rows after `from`, page after page, until a short page, `cap` rows or a stop: a prefix of the commit order
 * (see the module comment), with the seq it reaches (`from` when there are none).
 */
export async function readAfter<R extends { seq: number }>(
  read: (afterSeq: number, limit: number) => Promise<R[]>,
  options: { from: number; pageSize: number; cap: number; stopped: () => boolean },
): Promise<{ rows: R[]; to: number }> {
  const rows: R[] = [];
  let to = options.from;
  while (rows.length < options.cap && !options.stopped()) {
    const page = await read(to, options.pageSize);
    rows.push(...page);
    if (page.length > 0) to = page[page.length - 1]!.seq;
    if (page.length < options.pageSize) break;
  }
  return { rows, to };
}
