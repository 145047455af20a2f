/**
 * Niches: named groups of profiles (docs/api.md). Listed by name, which is unique and what a person scans for.
 */
import type { Sql } from '../db/sql.js';
import { ConflictError, isUuid, NotFoundError, pgCode, PG_UNIQUE_VIOLATION, ValidationError } from './errors.js';
import { decodeCursor, InvalidCursorError, toPage, type Page } from './pagination.js';

export interface NicheRow {
  id: string;
  name: string;
  created_at: Date;
}

/** Creates a niche; the name is trimmed. A name already taken is a ConflictError. */
export async function createNiche(sql: Sql, rawName: string): Promise<NicheRow> {
  const name = typeof rawName === 'string' ? rawName.trim() : '';
  // counted in characters (code points), as Postgres and JSON Schema count them
  const length = [...name].length;
  if (length < 1 || length > 200) throw new ValidationError('name must be 1 to 200 characters', { field: 'name' });
  if (name.includes('\u0000')) throw new ValidationError('name must not contain NUL (\\u0000) characters', { field: 'name' });
  try {
    const [row] = await sql<NicheRow[]>`insert into niches (name) values (${name}) returning id, name, created_at`;
    if (!row) throw new Error('insert returned no row');
    return row;
  } catch (err) {
    if (pgCode(err) === PG_UNIQUE_VIOLATION) {
      throw new ConflictError(`a niche named "${name}" already exists`, { details: { name } });
    }
    throw err;
  }
}

export async function getNiche(sql: Sql, id: string): Promise<NicheRow> {
  if (!isUuid(id)) throw new NotFoundError(`niche ${id} not found`);
  const [row] = await sql<NicheRow[]>`select id, name, created_at from niches where id = ${id}`;
  if (!row) throw new NotFoundError(`niche ${id} not found`);
  return row;
}

export async function listNiches(sql: Sql, options: { limit: number; cursor?: string | null }): Promise<Page<NicheRow>> {
  const limit = Math.max(1, Math.min(1000, Math.trunc(options.limit)));
  const key = decodeCursor(options.cursor);
  const after = key?.[0];
  if (key && (typeof after !== 'string' || after.includes('\u0000'))) throw new InvalidCursorError('cursor is not valid');
  // `collate "C"` makes the order and the keyset comparison agree byte for byte whatever the database collation
  const rows = await sql<NicheRow[]>`
    select id, name, created_at from niches
    ${after === undefined ? sql`` : sql`where name collate "C" > ${after as string}`}
    order by name collate "C"
    limit ${limit + 1}`;
  return toPage(rows, limit, (r) => [r.name]);
}

/** Whether a niche with this id exists (the caller has checked the id is a UUID). */
export async function nicheExists(sql: Sql, id: string): Promise<boolean> {
  const [row] = await sql<{ id: string }[]>`select id from niches where id = ${id}`;
  return row !== undefined;
}
