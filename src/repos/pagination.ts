/**
 * Keyset pagination shared by every list endpoint: `{ items, next_cursor }` where the cursor is an opaque
 * base64url string holding the sort key of the last item returned.
 */
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
