/**
 * A list as a file (docs/api.md, "Exports"): CSV or NDJSON, chosen by `?format=` or else by the Accept header,
 * streamed row by row from a postgres.js cursor into the response body. The body is pulled: a batch of rows is
 * read only when the client has taken the previous one, so memory stays flat whatever the list's size, and a
 * slow client slows the reading instead of filling the heap.
 *
 * The cursor runs on a reserved connection of the request pool (bounded like a transaction, src/db/guard.ts: a
 * pool busy with exports answers 503 rather than starving the other requests), released when the file ends, the
 * client goes away, or the client stops reading for EXPORT_STALL_MS.
 */
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Sql } from '../db/sql.js';
import type { Logger } from '../logging/logger.js';
import { csvLine } from './csv.js';
import { createRoute, errors } from './router.js';

export type ExportFormat = 'csv' | 'ndjson';

const MEDIA_TYPES = { csv: 'text/csv', ndjson: 'application/x-ndjson' } as const satisfies Record<ExportFormat, string>;
/** Rows read per round trip of the cursor. */
export const EXPORT_ROWS_PER_READ = 1_000;
/** A client that takes nothing for this long loses its download (and the connection it held). */
export const EXPORT_STALL_MS = 60_000;

/** `?format=` of a list that can be exported in these formats. */
export function formatParam<F extends ExportFormat>(formats: readonly [F, ...F[]]) {
  return z
    .enum(formats, { error: `format must be ${formats.join(' or ')}` })
    .optional()
    .openapi({
      param: { name: 'format', in: 'query' },
      description: `the whole list (all its filtered items, no paging) as a file; wins over the Accept header (${formats.map((f) => MEDIA_TYPES[f]).join(', ')})`,
    });
}

/** The file of each format, by its media type (typed by key, so that a route's handler may answer it as a plain Response). */
type FileContents<F extends ExportFormat> = { [K in F as (typeof MEDIA_TYPES)[K]]: { schema: z.ZodString } };

/** The 200 response of an exportable list: its JSON page, or the file. */
export function pageOrFile<T extends z.ZodType, F extends ExportFormat>(page: T, description: string, formats: readonly F[]) {
  const files = Object.fromEntries(formats.map((f) => [MEDIA_TYPES[f], { schema: z.string().openapi({ description: `the list as ${f}` }) }]));
  return {
    description: `${description}, or the whole list as a file`,
    content: { 'application/json': { schema: page }, ...(files as FileContents<F>) },
  };
}

/**
 * A GET route of a list that is also a file: its request's query takes `format` (formatParam), and its 200 is the
 * JSON page or, with `?format=` or an Accept header naming a format, every item the filters select as one file
 * (`holds` says which, `name` is the file's name without the extension).
 */
export function exportableListRoute<
  P extends string,
  R extends { query: z.ZodObject; params?: z.ZodObject },
  T extends z.ZodType,
  F extends ExportFormat,
  S extends 400 | 404,
>(route: { path: P; tags: string[]; summary: string; description?: string; request: R; page: T; errors: S[] }, file: { holds: string; name: string; formats: readonly [F, ...F[]] }) {
  const { holds, name, formats } = file;
  const asked = `?format=${formats.join('|')} (or Accept: ${formats.map((f) => MEDIA_TYPES[f]).join(' or ')})`;
  const files = formats.map((f) => `${name}.${f}`).join(' or ');
  return createRoute({
    method: 'get',
    path: route.path,
    tags: route.tags,
    summary: route.summary,
    description: `${route.description ?? ''}With ${asked} ${holds} as one file, ${files}: limit and cursor do not apply.`,
    request: route.request,
    responses: { 200: pageOrFile(route.page, 'a page of the list', formats), ...errors(...route.errors) },
  });
}

/** The format asked for: `?format=` wins, then an Accept header naming one of the formats; null for the JSON page. */
export function requestedFormat(c: Context, formats: readonly ExportFormat[], query: ExportFormat | undefined): ExportFormat | null {
  if (query !== undefined) return query;
  const accept = (c.req.header('accept') ?? '').toLowerCase();
  return formats.find((f) => accept.includes(MEDIA_TYPES[f])) ?? null;
}

export interface ExportOptions<Row> {
  /** The request pool: the export reserves a connection of it for its length. */
  sql: Sql;
  logger: Logger;
  format: ExportFormat;
  /** Without the extension. */
  filename: string;
  /** The item's fields, in the order of its JSON: the CSV header and columns. */
  columns: readonly string[];
  /** The rows, in order, batch after batch, read on the given connection. */
  rows: (sql: Sql) => AsyncIterable<Row[]>;
  present: (row: Row) => Record<string, unknown>;
}

function encoder<Row>(options: ExportOptions<Row>): (rows: Row[]) => string {
  if (options.format === 'ndjson') return (rows) => rows.map((row) => `${JSON.stringify(options.present(row))}\n`).join('');
  return (rows) =>
    rows
      .map((row) => {
        const item = options.present(row);
        return csvLine(options.columns.map((column) => item[column]));
      })
      .join('');
}

/**
 * The response of an export. The first batch of rows is read before it answers, so a failure to start (the pool
 * busy, Postgres gone) is a plain JSON error rather than a cut file; a HEAD request reads nothing.
 */
export async function exportResponse<Row>(c: Context, options: ExportOptions<Row>): Promise<Response> {
  const headers = {
    'content-type': `${MEDIA_TYPES[options.format]}; charset=utf-8`,
    'content-disposition': `attachment; filename="${options.filename}.${options.format}"`,
    'cache-control': 'no-store',
  };
  if (c.req.method === 'HEAD') return c.body(null, 200, headers);
  const reserved = await options.sql.reserve();
  let batches: AsyncIterator<Row[]>;
  let first: IteratorResult<Row[]>;
  try {
    batches = options.rows(reserved)[Symbol.asyncIterator]();
    first = await batches.next();
  } catch (err) {
    reserved.release();
    throw err;
  }
  const encode = encoder(options);
  const header = options.format === 'csv' ? csvLine(options.columns) : '';
  const body = pulledBody({
    first: header + (first.done ? '' : encode(first.value)),
    next: async () => {
      const next = first.done ? first : await batches.next();
      return next.done ? null : encode(next.value);
    },
    finish: () => {
      void batches.return?.();
      reserved.release();
    },
    onError: (err) => options.logger.warn('export stopped', { request_id: c.get('requestId'), file: headers['content-disposition'], err }),
  });
  return c.body(body, 200, headers);
}

interface PulledBody {
  first: string;
  /** The next piece, or null at the end. */
  next: () => Promise<string | null>;
  /** Called once, at the end, on a failure, when the client goes away or stops reading. */
  finish: () => void;
  onError: (err: unknown) => void;
}

/** A body read piece by piece as the client takes it (highWaterMark 0: nothing is read ahead). */
function pulledBody(source: PulledBody): ReadableStream<Uint8Array> {
  const utf8 = new TextEncoder();
  let sentFirst = false;
  let finished = false;
  let stall: NodeJS.Timeout | undefined;
  const finish = () => {
    clearTimeout(stall);
    if (finished) return;
    finished = true;
    source.finish();
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        clearTimeout(stall);
        try {
          // a pull must enqueue or close: the stream asks again only after a piece (the first may be empty)
          let piece: string | null = '';
          while (piece === '') {
            piece = sentFirst ? await source.next() : source.first;
            sentFirst = true;
          }
          if (piece === null) {
            finish();
            controller.close();
            return;
          }
          controller.enqueue(utf8.encode(piece));
          // the client must come back for the next piece: one that never does would hold the connection forever
          stall = setTimeout(() => {
            finish();
            controller.error(new Error(`the client took nothing for ${EXPORT_STALL_MS} ms`));
          }, EXPORT_STALL_MS);
        } catch (err) {
          finish();
          source.onError(err);
          controller.error(err);
        }
      },
      cancel: finish,
    },
    { highWaterMark: 0 },
  );
}
