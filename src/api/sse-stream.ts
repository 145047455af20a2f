/**
 * What every Server-Sent Events stream of the API shares: the stream's life (it ends when the client goes away or
 * the server shuts down, and a failure is told to the client as an `error` event before it closes), a writer
 * that sends a feed's events in commit order with no gap and no repeat, and the loop that follows a shared
 * reader (polling-feed.ts) with a keep-alive comment after 15 s of silence.
 */
import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { Logger } from '../logging/logger.js';
import { errorBody, isPostgresUnavailable } from './errors.js';
import type { SequencedEvent, Subscription, Tick } from './polling-feed.js';

export const KEEPALIVE_MS = 15_000;
/** Events read per query while a subscriber catches up from Postgres. */
export const CATCH_UP_PAGE = 500;

export interface EventStream {
  stream: SSEStreamingApi;
  /** The client left, or the server is shutting down: stop writing. */
  gone: () => boolean;
  /** Aborted when the client leaves: ends a wait at once. */
  signal: AbortSignal;
}

export interface EventStreamOptions {
  logger: Logger;
  /** Aborted when the server shuts down (the feeds wake waiting streams): open streams end instead of holding the shutdown up. */
  shutdown?: AbortSignal | undefined;
  /** What the warning of a failed stream says, and the fields it carries besides the request id. */
  failure: string;
  fields?: Record<string, unknown>;
}

/** An SSE response whose body `run` writes; a failure ends it with an `error` event (the error envelope). */
export function streamEvents(c: Context, options: EventStreamOptions, run: (events: EventStream) => Promise<void>): Response {
  return streamSSE(c, async (stream) => {
    const stop = new AbortController();
    const abort = () => stop.abort();
    const request = c.req.raw.signal;
    request.addEventListener('abort', abort, { once: true });
    if (request.aborted) abort();
    stream.onAbort(abort);
    const gone = () => stop.signal.aborted || stream.closed || options.shutdown?.aborted === true;
    try {
      await run({ stream, gone, signal: stop.signal });
    } catch (err) {
      if (gone()) return;
      options.logger.warn(options.failure, { ...options.fields, request_id: c.get('requestId'), err });
      const body = isPostgresUnavailable(err)
        ? errorBody('unavailable', 'Postgres is unreachable; reconnect to resume', { component: 'postgres' })
        : errorBody('internal', 'the event stream stopped; reconnect to resume');
      await stream.writeSSE({ event: 'error', data: JSON.stringify(body) }).catch(() => {});
    } finally {
      request.removeEventListener('abort', abort);
    }
  });
}

/**
 * One subscriber's side of a feed: what it has handled, and how to send the next events without repeats. Every
 * event with a seq up to `position` has been sent or predates the subscription (or did not match its filter).
 */
export class SequencedWriter<E extends SequencedEvent> {
  lastWrite = Date.now();

  constructor(
    protected readonly stream: SSEStreamingApi,
    private position: number,
    /** The events after a seq that this subscriber wants, oldest first, rendered. */
    private readonly readAfter: (afterSeq: number, limit: number) => Promise<E[]>,
    /** Whether this subscriber wants an event of a tick; null: it wants them all. */
    private readonly matches: ((event: E) => boolean) | null,
    protected readonly gone: () => boolean,
  ) {}

  /** Sends the tick's events this subscriber wants and has not sent, after reading any gap before the tick. */
  async events(tick: Tick<E>): Promise<void> {
    if (tick.from > this.position) await this.catchUp();
    // in step with the reader, wanting everything: the tick's events as rendered once for everyone
    if (tick.from === this.position && this.matches === null) await this.write(tick.events, tick.text);
    else await this.write(tick.events.filter((e) => e.seq > this.position && (this.matches?.(e) ?? true)));
    this.position = Math.max(this.position, tick.to);
  }

  /** Sends every wanted event committed after position (a prefix of the seq order, so paging on from it skips none). */
  async catchUp(): Promise<void> {
    for (;;) {
      if (this.gone()) return;
      const events = await this.readAfter(this.position, CATCH_UP_PAGE);
      await this.write(events);
      if (events.length < CATCH_UP_PAGE) return;
    }
  }

  /** Writes events that follow position, in one piece. */
  private async write(events: readonly E[], text = events.map((e) => e.text).join('')): Promise<void> {
    const last = events[events.length - 1];
    if (last === undefined || this.gone()) return;
    await this.stream.write(text);
    this.position = last.seq;
    this.lastWrite = Date.now();
  }

  async keepAliveIfIdle(): Promise<void> {
    if (Date.now() - this.lastWrite < KEEPALIVE_MS) return;
    // a comment line: keeps idle connections open through proxies, ignored by EventSource
    await this.stream.write(': keep-alive\n\n');
    this.lastWrite = Date.now();
  }
}

/**
 * Hands each tick of the shared reader to `onTick` (true: the stream is at its end) until the end, the client
 * leaves or the server stops; a reader's failure is thrown (streamEvents tells the client).
 */
export async function followFeed<T extends Tick>(
  subscription: Subscription<T>,
  events: EventStream,
  writer: Pick<SequencedWriter<SequencedEvent>, 'lastWrite' | 'keepAliveIfIdle'>,
  onTick: (tick: T) => Promise<boolean>,
): Promise<void> {
  // gone() is checked right before each wait: a shutdown wakes only the waits already pending
  while (!events.gone()) {
    const items = await subscription.take(KEEPALIVE_MS - (Date.now() - writer.lastWrite), events.signal);
    for (const item of items) {
      if ('error' in item) throw item.error;
      if (events.gone() || (await onTick(item.tick))) return;
    }
    if (!events.gone()) await writer.keepAliveIfIdle();
  }
}
