/**
 * One reader per batch for the event streams of this process. However many clients follow a batch, its row
 * and its new logs are read once per interval, rendered once as Server-Sent Events, and every subscriber gets
 * the same tick. The reader starts with the first subscriber and stops when the last one leaves, when the
 * batch settles, or when a read fails (each subscriber is told; the next subscriber starts a new reader).
 *
 * A tick carries every log of the batch with a seq in (from, to], in commit order (see listLogs): a
 * subscriber that has delivered up to `from` writes the tick's logs in one piece; one that is behind (it
 * resumed from an older Last-Event-ID, or its queue overflowed) reads the gap itself first, then writes the
 * tick's logs above what it has already sent. Both sides read prefixes of one order, so nothing is skipped
 * or sent twice.
 */
import type { Sql } from '../db/sql.js';
import type { BatchStatus } from '../enums.js';
import { getBatch } from '../repos/batches.js';
import { latestLogSeq, logsAfter, type LogRow } from '../repos/logs.js';
import { toApiBatch, toApiLog } from './present.js';
import { sleep } from '../process/timeouts.js';

/** A batch in one of these states has nothing more to report (a paused one continues only when resumed). */
export const SETTLED: ReadonlySet<BatchStatus> = new Set(['done', 'cancelled', 'error', 'paused']);

export const LOG_PAGE = 500;
/** Logs per tick while the batch moves, so that progress events keep flowing through a burst. */
const MAX_LOGS_PER_TICK = 5_000;
/** A subscriber this far behind the shared reader drops the queued logs and reads them back itself. */
const MAX_QUEUED_ROWS = 5_000;
/** ...and, for a client that stopped reading, the queued progress: only the newest Batch matters. */
const MAX_QUEUED_TICKS = 100;

/** A `log` event as sent: rendered once, written to every subscriber as is. */
export interface LogEvent {
  seq: number;
  text: string;
}

export interface FeedTick {
  /** The Batch as JSON (the `progress` and `end` events' data). */
  snapshot: string;
  settled: boolean;
  /** Every log of the batch with from < seq ≤ to is in logs; none above `to` was visible. */
  from: number;
  to: number;
  logs: readonly LogEvent[];
  /** All of logs in one piece, for the subscribers that are exactly at `from`. */
  text: string;
}

/** The Server-Sent Event of one log row; its id is the row's seq, which Last-Event-ID sends back. */
export function logEvent(row: LogRow): LogEvent {
  // JSON.stringify escapes line breaks, so the data is one line
  return { seq: row.seq, text: `event: log\ndata: ${JSON.stringify(toApiLog(row))}\nid: ${row.seq}\n\n` };
}

export type FeedItem = { tick: FeedTick } | { error: unknown };

export interface Subscription {
  /** Waits up to `timeoutMs` (or until `signal` aborts) for items, then takes every queued one. */
  take(timeoutMs: number, signal: AbortSignal): Promise<FeedItem[]>;
  /** Leaves the feed; the last subscriber to leave stops the reader. */
  close(): void;
}

export interface BatchFeeds {
  subscribe(batchId: string): Subscription;
}

class Subscriber implements Subscription {
  private queue: FeedItem[] = [];
  private queuedRows = 0;
  private wake: (() => void) | null = null;

  constructor(private readonly leave: (s: Subscriber) => void) {}

  push(item: FeedItem): void {
    if ('tick' in item) this.queuedRows += item.tick.logs.length;
    this.queue.push(item);
    if (this.queuedRows > MAX_QUEUED_ROWS || this.queue.length > MAX_QUEUED_TICKS) this.collapse();
    this.wakeUp();
  }

  /** Ends a pending take() at once (at shutdown: the stream then sees that it must stop). */
  wakeUp(): void {
    this.wake?.();
  }

  /** Keeps only the newest tick, without logs: the subscriber sees the gap and reads it from Postgres. */
  private collapse(): void {
    const last = this.queue[this.queue.length - 1];
    if (last === undefined || !('tick' in last)) return;
    this.queue = [{ tick: { ...last.tick, from: last.tick.to, logs: [], text: '' } }];
    this.queuedRows = 0;
  }

  async take(timeoutMs: number, signal: AbortSignal): Promise<FeedItem[]> {
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

class BatchFeed {
  private position: number | null = null;
  readonly subscribers = new Set<Subscriber>();
  private readonly stop = new AbortController();

  constructor(
    private readonly sql: Sql,
    private readonly batchId: string,
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
        const tick = await this.read();
        if (this.stopped) return;
        for (const s of this.subscribers) s.push({ tick });
        // a settled batch writes no more logs: its subscribers end with this tick
        if (tick.settled) return;
        await sleep(this.intervalMs, this.stop.signal);
      }
    } catch (error) {
      if (!this.stopped) for (const s of this.subscribers) s.push({ error });
    } finally {
      this.halt();
    }
  }

  /** The batch first, then its logs: a log committed with a status change is in the tick that shows it. */
  private async read(): Promise<FeedTick> {
    const batch = toApiBatch(await getBatch(this.sql, this.batchId));
    const settled = SETTLED.has(batch.status);
    if (this.position === null) {
      this.position = await latestLogSeq(this.sql, this.batchId);
    }
    const from = this.position;
    const rows: LogRow[] = [];
    // a settled batch gets all its remaining logs before its `end`
    const cap = settled ? Infinity : MAX_LOGS_PER_TICK;
    while (rows.length < cap && !this.stopped) {
      const page = await logsAfter(this.sql, this.batchId, this.position, LOG_PAGE);
      rows.push(...page);
      if (page.length > 0) this.position = page[page.length - 1]!.seq;
      if (page.length < LOG_PAGE) break;
    }
    const logs = rows.map(logEvent);
    return { snapshot: JSON.stringify(batch), settled, from, to: this.position, logs, text: logs.map((l) => l.text).join('') };
  }
}

export interface BatchFeedsOptions {
  sql: Sql;
  intervalMs: number;
  /** Aborted at server shutdown: every reader stops and every waiting subscriber wakes up to end its stream. */
  shutdown?: AbortSignal;
}

export function createBatchFeeds(options: BatchFeedsOptions): BatchFeeds {
  const feeds = new Map<string, BatchFeed>();
  // one listener for all streams, rather than one each on a signal every stream shares
  const endAll = () => {
    for (const feed of feeds.values()) feed.end();
  };
  options.shutdown?.addEventListener('abort', endAll, { once: true });

  const leave = (batchId: string, feed: BatchFeed) => (s: Subscriber) => {
    feed.subscribers.delete(s);
    if (feed.subscribers.size === 0) feed.halt();
    if (feed.stopped && feeds.get(batchId) === feed) feeds.delete(batchId);
  };

  return {
    subscribe(batchId) {
      let feed = feeds.get(batchId);
      if (feed === undefined || feed.stopped) {
        const started = new BatchFeed(options.sql, batchId, options.intervalMs);
        feeds.set(batchId, started);
        // run() reports its own failures to the subscribers and never rejects
        void started.run().finally(() => {
          if (feeds.get(batchId) === started) feeds.delete(batchId);
        });
        feed = started;
      }
      const subscriber = new Subscriber(leave(batchId, feed));
      feed.subscribers.add(subscriber);
      return subscriber;
    },
  };
}
