/**
 * Keyset pagination shared by every list endpoint: `{ items, next_cursor }` where the cursor is an opaque
 * base64url string holding the sort key of the last item returned.
 */
import type { Sql, Tx } from '../db/sql.js';

/** The pool or an open transaction. */
type Queryable = Sql | Tx;
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

export function encodeCursor(key: unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string | undefined | null): unknown[] | null {
  if (!cursor) return null;
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(key)) throw new Error('not an array');
    return key;
  } catch {
    throw new InvalidCursorError('cursor is not valid');
  }
}

/**
 * Turns `limit + 1` fetched rows into a page: the extra row only tells that more exist.
 * `keyOf` gives the sort key the next query resumes after.
 */
export function toPage<Row>(rows: Row[], limit: number, keyOf: (row: Row) => unknown[]): Page<Row> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const last = kept[kept.length - 1];
  return { items: kept, next_cursor: more && last !== undefined ? encodeCursor(keyOf(last)) : null };
}

/** A key part that is an ISO timestamp in UTC, as `exactTime` writes it. */
function isIsoTimestamp(value: unknown): value is string {
  return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(value) && !Number.isNaN(Date.parse(value));
}

/**
 * A timestamp column as ISO text to the microsecond, for a cursor key. Postgres keeps timestamps to the
 * microsecond, a JavaScript Date to the millisecond: the key goes back in as text (`${key}::text::timestamptz`),
 * since a parameter typed timestamptz would pass through a Date and lose the microseconds again.
 */
export function exactTime(sql: Queryable, column: string) {
  return sql`to_char(${sql(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/**
 * The key of a list ordered by a time then a tie-breaker (newest first): `[time ISO, tie-breaker]`, or null for
 * the first page; a forged cursor is the caller's mistake (400), not a Postgres cast error.
 */
export function decodeTimeKey(cursor: string | undefined, isTieBreaker: (value: unknown) => boolean): [string, string] | null {
  const key = decodeCursor(cursor);
  if (key === null) return null;
  if (key.length !== 2 || !isIsoTimestamp(key[0]) || !isTieBreaker(key[1])) throw new InvalidCursorError('cursor is not valid');
  return [key[0], String(key[1])];
}

/** `limit + 1` rows read with their time as `key_time` (see exactTime) as a page, without that column. */
export function toTimeKeyedPage<Row>(rows: Array<Row & { key_time: string }>, limit: number, tieBreaker: (row: Row) => string): Page<Row> {
  const page = toPage(rows, limit, (r) => [r.key_time, tieBreaker(r)]);
  return { ...page, items: page.items.map(({ key_time: _, ...row }) => row as Row) };
}
