/**
 * batch_logs: the per-batch event log the API shows (docs/api.md, `GET /batches/:id/logs`). Every message and
 * every string inside `details` passes through `redact` before it is stored, so a proxy password or a session
 * token can never be written here, whatever a caller puts in.
 */
import type postgres from 'postgres';
import type { Sql } from '../db/sql.js';
import { LOG_LEVELS, type EventType, type LogLevel } from '../enums.js';
import { redact } from '../logging/redact.js';
import { isUuid, NotFoundError, ValidationError } from './errors.js';
import { decodeCursor, InvalidCursorError, toPage, type Page } from './pagination.js';

/** The pool or an open transaction: log inserts join the transaction of the state change they describe. */
export type Queryable = Sql | postgres.TransactionSql<Record<string, never>>;

export interface LogEntry {
  batchId?: string | null;
  profileId?: string | null;
  proxyId?: string | null;
  level: LogLevel;
  eventType: EventType;
  message: string;
  details?: Record<string, unknown> | null;
  durationMs?: number | null;
}

/** A batch_logs row; `seq` is its place in commit order. */
export interface LogRow {
  seq: number;
  id: string;
  batch_id: string | null;
  profile_id: string | null;
  proxy_id: string | null;
  level: LogLevel;
  event_type: string;
  message: string;
  details: unknown;
  duration_ms: number | null;
  created_at: Date;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

// A value under one of these keys is a secret by its name alone, whether or not it was registered.
const SECRET_KEY = /^(password|proxy_password|token|session_token|sessionid|cookie|authorization|proxy_authorization)$/i;

/** Deep copy of `value` as plain JSON with every string redacted (redacting the serialized text could split an escaped secret). */
function redactJson(value: unknown): Json {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return redact(value);
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Error) return { type: value.name, message: redact(value.message) };
  if (Array.isArray(value)) return value.map(redactJson);
  if (typeof value === 'object') {
    const out: Record<string, Json> = {};
    for (const [key, v] of Object.entries(value)) {
      if (v === undefined || typeof v === 'function') continue;
      out[key] = SECRET_KEY.test(key) && v !== null ? '***' : redactJson(v);
    }
    return out;
  }
  return null;
}

function toRow(entry: LogEntry) {
  return {
    batch_id: entry.batchId ?? null,
    profile_id: entry.profileId ?? null,
    proxy_id: entry.proxyId ?? null,
    level: entry.level,
    event_type: entry.eventType,
    message: redact(entry.message),
    // serialized here and sent as text: postgres.js would JSON-encode the elements of a jsonb[] parameter again
    details: entry.details == null ? null : JSON.stringify(redactJson(entry.details)),
    duration_ms: entry.durationMs == null ? null : Math.max(0, Math.round(entry.durationMs)),
  };
}

/** Inserts one log entry (on `sql` or inside the caller's transaction). */
export async function insertLog(sql: Queryable, entry: LogEntry): Promise<void> {
  await insertLogs(sql, [entry]);
}

/** Inserts several log entries in one multi-row statement. */
export async function insertLogs(sql: Queryable, entries: readonly LogEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await sql`${logsInsert(sql, entries)}`;
}

/**
 * The statement that inserts `entries` (at least one), as a fragment: a caller may end a statement of its own
 * with it (after its CTEs), so writing the logs costs no round trip of their own.
 */
export function logsInsert(sql: Queryable, entries: readonly LogEntry[]) {
  const rows = entries.map(toRow);
  // Columns as parallel arrays: one statement and a fixed parameter count however many entries there are.
  return sql`
    insert into batch_logs (batch_id, profile_id, proxy_id, level, event_type, message, details, duration_ms)
    select * from unnest(
      ${rows.map((r) => r.batch_id)}::uuid[],
      ${rows.map((r) => r.profile_id)}::uuid[],
      ${rows.map((r) => r.proxy_id)}::uuid[],
      ${rows.map((r) => r.level)}::text[],
      ${rows.map((r) => r.event_type)}::text[],
      ${rows.map((r) => r.message)}::text[],
      ${rows.map((r) => r.details)}::text[]::jsonb[],
      ${rows.map((r) => r.duration_ms)}::int[]
    )`;
}

export interface ListLogsOptions {
  level?: LogLevel;
  eventType?: string;
  limit: number;
  cursor?: string | null;
}

function cursorSeq(cursor: string | null | undefined): number | null {
  const key = decodeCursor(cursor);
  if (!key) return null;
  const [seq] = key;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq)) throw new InvalidCursorError('cursor is not valid');
  return seq;
}

/**
 * A batch's logs, oldest first, paged by `seq`. A row's seq is drawn when its transaction commits, under one
 * lock (sql/005_batch_logs_commit_order.sql), so every snapshot sees a prefix of the seq order: a cursor
 * (the seq of the last item) never passes a row that commits later. `created_at` alone would tie within a
 * transaction. An unknown batch is a NotFoundError, not an empty page.
 */
export async function listLogs(sql: Queryable, batchId: string, options: ListLogsOptions): Promise<Page<LogRow>> {
  if (!isUuid(batchId)) throw new NotFoundError(`batch ${batchId} not found`);
  if (options.level !== undefined && !LOG_LEVELS.includes(options.level)) {
    throw new ValidationError(`level must be one of ${LOG_LEVELS.join(', ')}`, { level: options.level });
  }
  const limit = Math.max(1, Math.min(1000, Math.trunc(options.limit)));
  const after = cursorSeq(options.cursor);
  const rows = await sql<LogRow[]>`
    select seq, id, batch_id, profile_id, proxy_id, level, event_type, message, details, duration_ms, created_at
    from batch_logs
    where batch_id = ${batchId}
      ${after === null ? sql`` : sql`and seq > ${after}`}
      ${options.level ? sql`and level = ${options.level}` : sql``}
      ${options.eventType ? sql`and event_type = ${options.eventType}` : sql``}
    order by seq
    limit ${limit + 1}`;
  if (rows.length === 0) {
    const [batch] = await sql<{ id: string }[]>`select id from batches where id = ${batchId}`;
    if (!batch) throw new NotFoundError(`batch ${batchId} not found`);
  }
  return toPage(rows, limit, (r) => [r.seq]);
}

/** The newest log seq of a batch (0 when it has none): every log of the batch committed so far is at or below it. */
export async function latestLogSeq(sql: Queryable, batchId: string): Promise<number> {
  const [row] = await sql<{ seq: number | null }[]>`select max(seq) as seq from batch_logs where batch_id = ${batchId}`;
  return row?.seq ?? 0;
}

/**
 * Logs of a batch after `afterSeq`, oldest first: the next rows in commit order (see listLogs), so reading on
 * from the last seq returned misses nothing and repeats nothing.
 */
export async function logsAfter(sql: Queryable, batchId: string, afterSeq: number, limit: number): Promise<LogRow[]> {
  return sql<LogRow[]>`
    select seq, id, batch_id, profile_id, proxy_id, level, event_type, message, details, duration_ms, created_at
    from batch_logs
    where batch_id = ${batchId} and seq > ${afterSeq}
    order by seq
    limit ${limit}`;
}
