/**
 * Shape checks for the cursors of the list functions that use a cursor's key without checking it
 * (`listBatches`, `listBatchProfiles`): a forged cursor must be a 400, not a Postgres cast error.
 */
import { isUuid } from '../repos/errors.js';
import { decodeCursor, InvalidCursorError } from '../repos/pagination.js';

/** `[created_at ISO string, batch id]`, as `listBatches` writes it. */
export function checkBatchCursor(cursor: string | undefined): void {
  const key = decodeCursor(cursor);
  if (!key) return;
  const [at, id] = key;
  // an ISO timestamp as toISOString writes it: Date.parse alone accepts forms Postgres rejects (e.g. "1")
  const iso = typeof at === 'string' && /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(at) && !Number.isNaN(Date.parse(at));
  if (key.length !== 2 || !iso || !isUuid(id)) {
    throw new InvalidCursorError('cursor is not valid');
  }
}

/** `[ordinal]`, as `listBatchProfiles` writes it. */
export function checkOrdinalCursor(cursor: string | undefined): void {
  const key = decodeCursor(cursor);
  if (!key) return;
  const [ordinal] = key;
  if (key.length !== 1 || typeof ordinal !== 'number' || !Number.isSafeInteger(ordinal) || ordinal < 0) {
    throw new InvalidCursorError('cursor is not valid');
  }
}
