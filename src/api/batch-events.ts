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
import type { SSEStreamingApi } from 'hono/streaming';
import type { Sql } from '../db/sql.js';
import type { Logger } from '../logging/logger.js';
import { latestLogSeq, logsAfter } from '../repos/logs.js';
import { logEvent, SETTLED, type BatchFeeds, type BatchTick, type LogEvent } from './batch-feed.js';
import type { Subscription } from './polling-feed.js';
import type { ApiBatch } from './present.js';
import { followFeed, SequencedWriter, streamEvents } from './sse-stream.js';

export interface BatchEventsOptions {
  sql: Sql;
  feeds: BatchFeeds;
  logger: Logger;
  /** The batch as read when the request came in: the first `progress` event. */
  batch: ApiBatch;
  /** Resume after this log seq (Last-Event-ID); otherwise only logs committed from now on are sent. */
  afterSeq?: number | undefined;
  /** Aborted when the server shuts down (the feeds wake waiting streams): open streams end instead of holding the shutdown up. */
  shutdown?: AbortSignal | undefined;
}

/** The batch's logs in commit order, and its progress and end besides. */
class BatchEventWriter extends SequencedWriter<LogEvent> {
  private lastSnapshot = '';

  constructor(stream: SSEStreamingApi, sql: Sql, batchId: string, afterSeq: number, gone: () => boolean) {
    const read = async (after: number, limit: number) => (await logsAfter(sql, batchId, after, limit)).map(logEvent);
    super(stream, afterSeq, read, null, gone);
  }

  /** Sends a tick of the shared reader: its logs, then the batch. Returns true at the end. */
  async tick(tick: BatchTick): Promise<boolean> {
    await this.events(tick);
    return this.batch(tick.snapshot, tick.settled);
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
}

export function streamBatchEvents(c: Context, options: BatchEventsOptions): Response {
  const { sql, feeds, logger, batch } = options;
  const failure = { logger, shutdown: options.shutdown, failure: 'batch event stream failed', fields: { batch_id: batch.id } };
  return streamEvents(c, failure, async (events) => {
    let subscription: Subscription<BatchTick> | undefined;
    try {
      const start = options.afterSeq ?? (await latestLogSeq(sql, batch.id));
      const writer = new BatchEventWriter(events.stream, sql, batch.id, start, events.gone);
      const settled = SETTLED.has(batch.status);
      // a stream that goes on joins the batch's shared reader now, so its ticks queue while this one catches up
      if (!settled) subscription = feeds.subscribe(batch.id);
      // logs after Last-Event-ID, then the batch as read before them: a settled batch's last logs precede `end`
      if (options.afterSeq !== undefined) await writer.catchUp();
      if ((await writer.batch(JSON.stringify(batch), settled)) || subscription === undefined) return;
      await followFeed(subscription, events, writer, (tick) => writer.tick(tick));
    } finally {
      subscription?.close();
    }
  });
}
