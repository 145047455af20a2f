/**
 * What the lists of a profile's history (its story items, its checks) share: newest first by a time then a
 * tie-breaker, keyed by both, and a 404 for an unknown profile rather than an empty page.
 */
import { isUuid, NotFoundError } from './errors.js';
import type { Queryable } from './logs.js';
import { decodeTimeKey, toTimeKeyedPage, type Page } from './pagination.js';
import { assertProfileExists } from './profiles.js';

export interface HistoryPageOptions {
  limit: number;
  cursor?: string | undefined;
}

/**
 * A page of a profile's history: `read` gets the key to go on after (null for the first page) and returns up to
 * `limit + 1` rows, newest first, each with its time as `key_time` (see exactTime).
 */
export async function profileHistoryPage<Row>(
  sql: Queryable,
  profileId: string,
  options: HistoryPageOptions,
  tieBreaker: { valid: (value: unknown) => boolean; of: (row: Row) => string },
  read: (key: [time: string, tieBreaker: string] | null) => Promise<Array<Row & { key_time: string }>>,
): Promise<Page<Row>> {
  if (!isUuid(profileId)) throw new NotFoundError(`profile ${profileId} not found`);
  const rows = await read(decodeTimeKey(options.cursor, tieBreaker.valid));
  if (rows.length === 0) await assertProfileExists(sql, profileId);
  return toTimeKeyedPage(rows, options.limit, tieBreaker.of);
}
