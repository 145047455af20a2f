/**
 * The `cursor` of each list as the API shows it. The repositories page by an opaque key (base64url JSON);
 * no schema can say which such strings are valid, so a client (or a fuzzer) reading the OpenAPI document
 * could send one the server refuses. Here each list's key is written in a plain format with an exact
 * pattern instead: every string matching the pattern is a valid place to resume from, and every cursor the
 * API hands out matches it.
 */
import { z } from '@hono/zod-openapi';
import { decodeCursor, encodeCursor, type Page } from '../repos/pagination.js';

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
/** Up to 14 digits: every such count of milliseconds is a date with a 4-digit year. */
const MILLIS = '(?:0|[1-9][0-9]{0,13})';
/** Seconds and microseconds, `<up to 11 digits>.<6 digits>`: the same range of dates, to the microsecond. */
const MICROS = '(?:0|[1-9][0-9]{0,10})\\.[0-9]{6}';
const SEQUENCE = '(?:0|[1-9][0-9]{0,14})';
/** A batch profile's place is a Postgres integer: 9 digits always fit. */
const POSITION = '(?:0|[1-9][0-9]{0,8})';

export interface CursorFormat {
  /** What every cursor of this list matches (the `cursor` parameter and `next_cursor`). */
  pattern: RegExp;
  /** The `cursor` query parameter. */
  param: z.ZodType<string | undefined>;
  /** The API cursor as the repository's key cursor. */
  toKey(cursor: string | undefined): string | undefined;
  /** The repository's key cursor as the API shows it. */
  fromKey(cursor: string | null): string | null;
}

function format(options: {
  pattern: string;
  maxLength: number;
  description: string;
  example: string;
  parse: (cursor: string) => unknown[];
  show: (key: unknown[]) => string;
}): CursorFormat {
  const pattern = new RegExp(`^${options.pattern}$`);
  return {
    pattern,
    param: z
      .string()
      .regex(pattern, `cursor must be the next_cursor of a previous page (${options.description})`)
      .max(options.maxLength)
      .optional()
      .openapi({
        param: { name: 'cursor', in: 'query' },
        description: `next_cursor of the previous page: ${options.description}`,
        example: options.example,
      }),
    toKey: (cursor) => (cursor === undefined ? undefined : encodeCursor(options.parse(cursor))),
    fromKey: (cursor) => {
      const key = decodeCursor(cursor);
      return key === null ? null : options.show(key);
    },
  };
}

/** Lists ordered by id (profiles, sessions): the last id returned. */
export const idCursor = format({
  pattern: UUID,
  maxLength: 36,
  description: 'the id of the last item returned',
  example: '0b6f0d4e-3c5a-4a59-9c55-0f2b8c1e7d21',
  parse: (cursor) => [cursor.toLowerCase()],
  show: ([id]) => String(id),
});

/**
 * Lists ordered by a text (niches by name, proxies by url): the last one's text, UTF-8, base64url without
 * padding. Any such string is a place in the order; a NUL, which no stored text holds, is left out.
 */
export const textCursor = format({
  pattern: '[A-Za-z0-9_-]{1,4000}',
  maxLength: 4000,
  description: 'the sort text of the last item returned, base64url-encoded',
  example: 'c3BvcnRz',
  parse: (cursor) => [textFromBase64url(cursor)],
  show: ([text]) => base64urlFromText(String(text)),
});

/** Base64url as the text it encodes (bytes that are not UTF-8 read as U+FFFD; a NUL, which no stored text holds, is left out). */
function textFromBase64url(encoded: string): string {
  return Buffer.from(encoded, 'base64url').toString('utf8').replaceAll('\u0000', '');
}

function base64urlFromText(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

/** A batch's profiles, in batch order: the place of the last profile returned. */
export const positionCursor = format({
  pattern: POSITION,
  maxLength: 9,
  description: 'the place in the batch of the last profile returned',
  example: '100',
  parse: (cursor) => [Number(cursor)],
  show: ([position]) => String(position),
});

/** A batch's log, oldest first: the sequence number of the last entry returned. */
export const sequenceCursor = format({
  pattern: SEQUENCE,
  maxLength: 15,
  description: 'the sequence number of the last log entry returned',
  example: '100',
  parse: (cursor) => [Number(cursor)],
  show: ([sequence]) => String(sequence),
});

/**
 * Batches, newest first: `<created_at in epoch seconds, 6 decimals>_<id>` of the last batch returned. Postgres
 * keeps created_at to the microsecond, and batches created within one millisecond are told apart only there:
 * a coarser cursor would skip some of them. A cursor in epoch milliseconds (`<ms>_<id>`, without a decimal
 * point), as earlier versions handed out, is still accepted and resumes before that millisecond.
 */
export const batchCursor = format({
  pattern: `(?:${MICROS}|${MILLIS})_${UUID}`,
  maxLength: 55,
  description:
    'created_at in epoch seconds with 6 decimals (to the microsecond) and id of the last batch returned, joined by "_" ' +
    '(a cursor with created_at in epoch milliseconds, from earlier versions, is accepted too)',
  example: '1767225600.123456_0b6f0d4e-3c5a-4a59-9c55-0f2b8c1e7d21',
  parse: (cursor) => {
    const [time, id] = cursor.split('_');
    return [time!.includes('.') ? isoFromEpochMicros(time!) : new Date(Number(time)).toISOString(), id!.toLowerCase()];
  },
  show: ([createdAt, id]) => `${epochMicrosFromIso(String(createdAt))}_${String(id)}`,
});

/**
 * A profile's story items, newest first: `<taken_at in epoch seconds, 6 decimals>_<item_pk, UTF-8, base64url>` of
 * the last item returned (the source's item ids are opaque text; base64url keeps any of them in the pattern).
 */
export const storyItemCursor = format({
  pattern: `${MICROS}_[A-Za-z0-9_-]{1,540}`,
  maxLength: 560,
  description: 'taken_at in epoch seconds with 6 decimals and item_pk (UTF-8, base64url) of the last item returned, joined by "_"',
  example: '1767225600.000000_MzYwMDAwMDAwMQ',
  parse: (cursor) => {
    const split = cursor.indexOf('_');
    return [isoFromEpochMicros(cursor.slice(0, split)), textFromBase64url(cursor.slice(split + 1))];
  },
  show: ([takenAt, itemPk]) => `${epochMicrosFromIso(String(takenAt))}_${base64urlFromText(String(itemPk))}`,
});

/** A profile's checks, newest first: `<checked_at in epoch seconds, 6 decimals>_<batch_id>` of the last check returned. */
export const checkCursor = format({
  pattern: `${MICROS}_${UUID}`,
  maxLength: 55,
  description: 'checked_at in epoch seconds with 6 decimals (to the microsecond) and batch_id of the last check returned, joined by "_"',
  example: '1767225600.123456_0b6f0d4e-3c5a-4a59-9c55-0f2b8c1e7d21',
  parse: (cursor) => {
    const [time, id] = cursor.split('_');
    return [isoFromEpochMicros(time!), id!.toLowerCase()];
  },
  show: ([checkedAt, id]) => `${epochMicrosFromIso(String(checkedAt))}_${String(id)}`,
});

/** `<seconds>.<6 digits>` as an ISO timestamp with 6 decimals (a Date alone keeps milliseconds only). */
function isoFromEpochMicros(time: string): string {
  const [seconds, micros] = time.split('.');
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, `.${micros}Z`);
}

/** An ISO timestamp (up to 6 decimals) as `<seconds>.<6 digits>`. */
function epochMicrosFromIso(iso: string): string {
  const [whole, fraction = ''] = iso.replace(/Z$/, '').split('.');
  return `${Date.parse(`${whole}Z`) / 1000}.${fraction.padEnd(6, '0').slice(0, 6)}`;
}

/** A repository page with its cursor in the API's format. */
export function apiPage<T>(page: Page<T>, cursor: CursorFormat): Page<T> {
  return { items: page.items, next_cursor: cursor.fromKey(page.next_cursor) };
}
