/**
 * The live view of one batch for `GET /batches/:id/events` (Server-Sent Events). Postgres is the source of
 * truth, so the stream polls it: a `progress` event (the Batch) at once and whenever it changes, a `log`
 * event per new batch_logs row (its `id` is the row's seq, so a reconnecting EventSource resumes through
 * Last-Event-ID without gaps), and a final `end` event (the Batch) once the batch stops moving.
 */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { Sql } from '../db.js';
import type { Logger } from '../logger.js';
import { getBatch, toApiBatch, type BatchStatus } from '../repos/batches.js';
import { toApiLog } from '../repos/logs.js';
import { errorBody, isPostgresUnavailable } from './errors.js';

/** A batch in one of these states has nothing more to report (a paused one continues only when resumed). */
export const SETTLED: ReadonlySet<BatchStatus> = new Set(['done', 'cancelled', 'error', 'paused']);

const LOG_PAGE = 500;
const MAX_LOGS_PER_TICK = 5_000;
const KEEPALIVE_MS = 15_000;

type LogRow = Parameters<typeof toApiLog>[0];

/** The newest log seq of a batch (0 when it has none): a new subscriber starts after it. */
export async function latestLogSeq(sql: Sql, batchId: string): Promise<number> {
  const [row] = await sql<{ seq: number | null }[]>`select max(seq) as seq from batch_logs where batch_id = ${batchId}`;
  return row?.seq ?? 0;
}

/** Logs of a batch after `afterSeq`, oldest first (keyset on seq, the insertion order). */
export async function logsAfter(sql: Sql, batchId: string, afterSeq: number, limit = LOG_PAGE): Promise<LogRow[]> {
  return sql<LogRow[]>`
    select seq, id, batch_id, profile_id, proxy_id, level, event_type, message, details, duration_ms, created_at
    from batch_logs
    where batch_id = ${batchId} and seq > ${afterSeq}
    order by seq
    limit ${limit}`;
}

export interface BatchEventsOptions {
  sql: Sql;
  logger: Logger;
  batchId: string;
  /** Resume after this log seq (Last-Event-ID); otherwise only logs written from now on are sent. */
  afterSeq?: number;
  intervalMs: number;
  /** Aborted when the server shuts down: open streams end instead of holding the shutdown up. */
  shutdown?: AbortSignal;
}

export function streamBatchEvents(c: Context, options: BatchEventsOptions): Response {
  const { sql, logger, batchId, intervalMs } = options;
  return streamSSE(c, async (stream) => {
    let closed = false;
    stream.onAbort(() => {
      closed = true;
    });
    const signal = c.req.raw.signal;
    const gone = () => closed || stream.closed || signal.aborted || options.shutdown?.aborted === true;

    try {
      let lastSeq = options.afterSeq ?? (await latestLogSeq(sql, batchId));
      let lastSent = '';
      let lastWrite = Date.now();
      let first = true;

      for (;;) {
        // the batch first, then its logs: a log written with a status change is never missed before `end`
        const batch = toApiBatch(await getBatch(sql, batchId));
        // a settled batch writes no more logs: send all that are left before `end`
        const cap = SETTLED.has(batch.status) ? Infinity : MAX_LOGS_PER_TICK;
        for (let sent = 0; sent < cap && !gone(); ) {
          const rows = await logsAfter(sql, batchId, lastSeq);
          for (const row of rows) {
            await stream.writeSSE({ event: 'log', id: String(row.seq), data: JSON.stringify(toApiLog(row)) });
            lastSeq = row.seq;
            lastWrite = Date.now();
          }
          sent += rows.length;
          if (rows.length < LOG_PAGE) break;
        }
        const snapshot = JSON.stringify(batch);
        if (snapshot !== lastSent && !gone()) {
          // the first event also tells EventSource how soon to reconnect if the connection drops
          await stream.writeSSE({ event: 'progress', data: snapshot, ...(first ? { retry: 2_000 } : {}) });
          lastSent = snapshot;
          lastWrite = Date.now();
          first = false;
        }
        if (SETTLED.has(batch.status)) {
          if (!gone()) await stream.writeSSE({ event: 'end', data: snapshot });
          return;
        }
        if (gone()) return;
        if (Date.now() - lastWrite >= KEEPALIVE_MS) {
          // a comment line: keeps idle connections open through proxies, ignored by EventSource
          await stream.write(': keep-alive\n\n');
          lastWrite = Date.now();
        }
        await stream.sleep(intervalMs);
        if (gone()) return;
      }
    } catch (err) {
      if (gone()) return;
      logger.warn('batch event stream failed', { batch_id: batchId, request_id: c.get('requestId'), err });
      const body = isPostgresUnavailable(err)
        ? errorBody('unavailable', 'Postgres is unreachable; reconnect to resume', { component: 'postgres' })
        : errorBody('internal', 'the event stream stopped; reconnect to resume');
      await stream.writeSSE({ event: 'error', data: JSON.stringify(body) }).catch(() => {});
    }
  });
}
