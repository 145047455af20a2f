/**
 * The live view of one batch for `GET /batches/:id/events` (Server-Sent Events): a `progress` event (the
 * Batch) at once and whenever it changes, a `log` event per new batch_logs row, and a final `end` event (the
 * Batch) once the batch stops moving. A `log` event's id is the row's seq, drawn at commit (see listLogs), so
 * a reconnecting EventSource resumes through Last-Event-ID exactly after the last log it got.
 *
 * Postgres is the source of truth; the batch's shared reader (batch-feed.ts) polls it once for all the
 * process's subscribers. A subscriber reads Postgres itself only for what it alone needs: the logs between its
 * Last-Event-ID and the shared reader's position.
 */
import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { Sql } from '../db/sql.js';
import type { Logger } from '../logging/logger.js';
import { latestLogSeq, logsAfter } from '../repos/logs.js';
import { LOG_PAGE, logEvent, SETTLED, type BatchFeeds, type FeedItem, type LogEvent, type Subscription } from './batch-feed.js';
import { errorBody, isPostgresUnavailable } from './errors.js';
import type { ApiBatch } from './present.js';

const KEEPALIVE_MS = 15_000;

export interface BatchEventsOptions {
  sql: Sql;
  feeds: BatchFeeds;
  logger: Logger;
  /** The batch as read when the request came in: the first `progress` event. */
  batch: ApiBatch;
  /** Resume after this log seq (Last-Event-ID); otherwise only logs committed from now on are sent. */
  afterSeq?: number;
  /** Aborted when the server shuts down (the feeds wake waiting streams): open streams end instead of holding the shutdown up. */
  shutdown?: AbortSignal;
}

/** One subscriber's side of the stream: what it has sent, and how to send the next thing without repeats. */
class EventWriter {
  private lastSnapshot = '';
  lastWrite = Date.now();

  constructor(
    private readonly stream: SSEStreamingApi,
    private readonly sql: Sql,
    private readonly batchId: string,
    /** Every log of the batch up to this seq has been sent (or predates the subscription). */
    private lastSeq: number,
    private readonly gone: () => boolean,
  ) {}

  /** Sends a tick of the shared reader, after reading any logs between this subscriber and the tick. Returns true at the end. */
  async tick(item: FeedItem): Promise<boolean> {
    if ('error' in item) throw item.error;
    const { tick } = item;
    if (tick.from > this.lastSeq) await this.catchUp();
    // in step with the reader: the tick's logs as rendered once for everyone
    if (tick.from === this.lastSeq) await this.write(tick.logs, tick.text);
    else await this.write(tick.logs.filter((l) => l.seq > this.lastSeq)); // it caught up past part of the tick
    return this.batch(tick.snapshot, tick.settled);
  }

  /** Sends every log committed after lastSeq (a prefix of the seq order, so paging on from lastSeq skips none). */
  async catchUp(): Promise<void> {
    for (;;) {
      if (this.gone()) return;
      const rows = await logsAfter(this.sql, this.batchId, this.lastSeq, LOG_PAGE);
      await this.write(rows.map(logEvent));
      if (rows.length < LOG_PAGE) return;
    }
  }

  /** Writes log events that follow lastSeq, in one piece. */
  private async write(logs: readonly LogEvent[], text = logs.map((l) => l.text).join('')): Promise<void> {
    const last = logs[logs.length - 1];
    if (last === undefined || this.gone()) return;
    await this.stream.write(text);
    this.lastSeq = last.seq;
    this.lastWrite = Date.now();
  }

  /** A progress event if the batch changed; then, if it is settled, the `end` event. Returns true at the end. */
  async batch(snapshot: string, settled: boolean): Promise<boolean> {
    if (this.gone()) return true;
    if (snapshot !== this.lastSnapshot) {
      // the first event also tells EventSource how soon to reconnect if the connection drops
      const retry = this.lastSnapshot === '' ? { retry: 2_000 } : {};
      await this.stream.writeSSE({ event: 'progress', data: snapshot, ...retry });
      this.lastSnapshot = snapshot;
      this.lastWrite = Date.now();
    }
    if (!settled) return false;
    if (!this.gone()) await this.stream.writeSSE({ event: 'end', data: snapshot });
    return true;
  }

  async keepAliveIfIdle(): Promise<void> {
    if (Date.now() - this.lastWrite < KEEPALIVE_MS) return;
    // a comment line: keeps idle connections open through proxies, ignored by EventSource
    await this.stream.write(': keep-alive\n\n');
    this.lastWrite = Date.now();
  }
}

export function streamBatchEvents(c: Context, options: BatchEventsOptions): Response {
  const { sql, feeds, logger, batch } = options;
  return streamSSE(c, async (stream) => {
    // the client going away ends a wait at once; so does shutdown, through the feeds (one listener for all streams)
    const stop = new AbortController();
    const abort = () => stop.abort();
    const request = c.req.raw.signal;
    request.addEventListener('abort', abort, { once: true });
    if (request.aborted) abort();
    stream.onAbort(abort);
    const gone = () => stop.signal.aborted || stream.closed || options.shutdown?.aborted === true;

    let subscription: Subscription | undefined;
    try {
      const start = options.afterSeq ?? (await latestLogSeq(sql, batch.id));
      const writer = new EventWriter(stream, sql, batch.id, start, gone);
      const settled = SETTLED.has(batch.status);
      // a stream that goes on joins the batch's shared reader now, so its ticks queue while this one catches up
      if (!settled) subscription = feeds.subscribe(batch.id);
      // logs after Last-Event-ID, then the batch as read before them: a settled batch's last logs precede `end`
      if (options.afterSeq !== undefined) await writer.catchUp();
      if ((await writer.batch(JSON.stringify(batch), settled)) || subscription === undefined) return;
      // gone() is checked right before each wait: a shutdown wakes only the waits already pending
      while (!gone()) {
        const items = await subscription.take(KEEPALIVE_MS - (Date.now() - writer.lastWrite), stop.signal);
        for (const item of items) {
          if (gone() || (await writer.tick(item))) return;
        }
        if (!gone()) await writer.keepAliveIfIdle();
      }
    } catch (err) {
      if (gone()) return;
      logger.warn('batch event stream failed', { batch_id: batch.id, request_id: c.get('requestId'), err });
      const body = isPostgresUnavailable(err)
        ? errorBody('unavailable', 'Postgres is unreachable; reconnect to resume', { component: 'postgres' })
        : errorBody('internal', 'the event stream stopped; reconnect to resume');
      await stream.writeSSE({ event: 'error', data: JSON.stringify(body) }).catch(() => {});
    } finally {
      subscription?.close();
      request.removeEventListener('abort', abort);
    }
  });
}
