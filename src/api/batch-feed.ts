/**
 * The shared reader of each followed batch (polling-feed.ts): however many clients follow a batch, its row and
 * its new logs are read once per interval and rendered once. The batch is read first, then its logs, so a log
 * committed with a status change is in the tick that shows it; a settled batch ends its feed.
 */
import type { Sql } from '../db/sql.js';
import type { BatchStatus } from '../enums.js';
import { getBatch } from '../repos/batches.js';
import { latestLogSeq, logsAfter, type LogRow } from '../repos/logs.js';
import { createFeeds, readAfter, type Feeds, type SequencedEvent, type Tick, type TickReader } from './polling-feed.js';
import { toApiBatch, toApiLog } from './present.js';

/** A batch in one of these states has nothing more to report (a paused one continues only when resumed). */
export const SETTLED: ReadonlySet<BatchStatus> = new Set(['done', 'cancelled', 'error', 'paused']);

const LOG_PAGE = 500;
/** Logs per tick while the batch moves, so that progress events keep flowing through a burst. */
const MAX_LOGS_PER_TICK = 5_000;

/** A `log` event as sent: rendered once, written to every subscriber as is. */
export type LogEvent = SequencedEvent;

export interface BatchTick extends Tick<LogEvent> {
  /** The Batch as JSON (the `progress` and `end` events' data). */
  snapshot: string;
  settled: boolean;
}

export type BatchFeeds = Feeds<BatchTick>;

/** The Server-Sent Event of one log row; its id is the row's seq, which Last-Event-ID sends back. */
export function logEvent(row: LogRow): LogEvent {
  // JSON.stringify escapes line breaks, so the data is one line
  return { seq: row.seq, text: `event: log\ndata: ${JSON.stringify(toApiLog(row))}\nid: ${row.seq}\n\n` };
}

function batchReader(sql: Sql, batchId: string): TickReader<BatchTick> {
  let position: number | null = null;
  return {
    isLast: (tick) => tick.settled,
    async read(stopped) {
      const batch = toApiBatch(await getBatch(sql, batchId));
      const settled = SETTLED.has(batch.status);
      position ??= await latestLogSeq(sql, batchId);
      const from = position;
      // a settled batch gets all its remaining logs before its `end`
      const cap = settled ? Infinity : MAX_LOGS_PER_TICK;
      const { rows, to } = await readAfter((after, limit) => logsAfter(sql, batchId, after, limit), { from, pageSize: LOG_PAGE, cap, stopped });
      position = to;
      const events = rows.map(logEvent);
      return { snapshot: JSON.stringify(batch), settled, from, to, events, text: events.map((e) => e.text).join('') };
    },
  };
}

export interface BatchFeedsOptions {
  sql: Sql;
  intervalMs: number;
  /** Aborted at server shutdown: every reader stops and every waiting subscriber wakes up to end its stream. */
  shutdown?: AbortSignal | undefined;
}

/** One reader per followed batch, keyed by the batch's id. */
export function createBatchFeeds(options: BatchFeedsOptions): BatchFeeds {
  return createFeeds({ intervalMs: options.intervalMs, shutdown: options.shutdown, reader: (batchId) => batchReader(options.sql, batchId) });
}
