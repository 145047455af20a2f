/**
 * Sessions: upstream logins (a cookie value) the pool pairs with a proxy for each request (docs/api.md).
 * The token is written here and read only by the pool; nothing in this module returns it.
 */
import type { Sql } from '../db/sql.js';
import { MAX_TOKEN_LENGTH, type SessionStatus } from '../enums.js';
import { registerSecret } from '../logging/redact.js';
import { isSendableToken, SENDABLE_TOKEN_RULE } from '../upstream/session-token.js';
import {
  ConflictError,
  isUuid,
  NotFoundError,
  pgCode,
  PG_FOREIGN_KEY_VIOLATION,
  PG_UNIQUE_VIOLATION,
  ValidationError,
} from './errors.js';
import type { Queryable } from './logs.js';
import { decodeCursor, InvalidCursorError, toPage, type Page } from './pagination.js';

/** A session row without its token. */
export interface SessionRow {
  id: string;
  proxy_id: string | null;
  status: SessionStatus;
  last_used_at: Date | null;
  created_at: Date;
}

const PUBLIC_COLUMNS = (sql: Queryable) => sql`id, proxy_id, status, last_used_at, created_at`;

/**
 * Stores a session. Surrounding whitespace is dropped (a cookie value holds none; a pasted token often
 * ends in a newline). Unknown proxy → ValidationError; the same token twice → ConflictError. Neither error
 * carries the token, nor the database's message (which would quote it).
 */
export async function createSession(sql: Sql, input: { token: string; proxyId?: string | null }): Promise<SessionRow> {
  const token = typeof input.token === 'string' ? input.token.trim() : '';
  // counted in characters (code points), as the table's CHECK and JSON Schema count them; uniqueness is
  // enforced on a digest, so any length up to the CHECK's fits
  const length = [...token].length;
  if (length < 1 || length > MAX_TOKEN_LENGTH) {
    throw new ValidationError(`token must be 1 to ${MAX_TOKEN_LENGTH} characters`, { field: 'token' });
  }
  if (token.includes('\u0000')) throw new ValidationError('token must not contain NUL (\\u0000) characters', { field: 'token' });
  if (!isSendableToken(token)) throw new ValidationError(SENDABLE_TOKEN_RULE, { field: 'token' });
  registerSecret(token);
  const proxyId = input.proxyId ?? null;
  if (proxyId !== null && !isUuid(proxyId)) {
    throw new ValidationError(`proxy ${proxyId} does not exist`, { field: 'proxy_id', proxy_id: proxyId });
  }
  try {
    const [row] = await sql<SessionRow[]>`
      insert into sessions (token, proxy_id) values (${token}, ${proxyId})
      returning ${PUBLIC_COLUMNS(sql)}`;
    if (!row) throw new Error('insert returned no row');
    return row;
  } catch (err) {
    const code = pgCode(err);
    if (code === PG_FOREIGN_KEY_VIOLATION) {
      throw new ValidationError(`proxy ${proxyId} does not exist`, { field: 'proxy_id', proxy_id: proxyId });
    }
    if (code === PG_UNIQUE_VIOLATION) throw new ConflictError('this session token is already stored');
    throw err;
  }
}

export async function getSession(sql: Queryable, id: string): Promise<SessionRow> {
  if (!isUuid(id)) throw new NotFoundError(`session ${id} not found`);
  const [row] = await sql<SessionRow[]>`select ${PUBLIC_COLUMNS(sql)} from sessions where id = ${id}`;
  if (!row) throw new NotFoundError(`session ${id} not found`);
  return row;
}

/** Sessions paged by id. */
export async function listSessions(sql: Sql, options: { limit: number; cursor?: string | null }): Promise<Page<SessionRow>> {
  const limit = Math.max(1, Math.min(1000, Math.trunc(options.limit)));
  const key = decodeCursor(options.cursor);
  const after = key?.[0];
  if (key && !isUuid(after)) throw new InvalidCursorError('cursor is not valid');
  const rows = await sql<SessionRow[]>`
    select ${PUBLIC_COLUMNS(sql)} from sessions
    ${after === undefined ? sql`` : sql`where id > ${after as string}`}
    order by id
    limit ${limit + 1}`;
  return toPage(rows, limit, (r) => [r.id]);
}

export async function deleteSession(sql: Sql, id: string): Promise<void> {
  if (!isUuid(id)) throw new NotFoundError(`session ${id} not found`);
  const [row] = await sql<{ id: string }[]>`delete from sessions where id = ${id} returning id`;
  if (!row) throw new NotFoundError(`session ${id} not found`);
}
