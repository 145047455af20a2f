/**
 * Proxies: the HTTP forward proxies checks go through (docs/api.md). Credentials are stored apart from the URL
 * and never leave this module's writes: every read here selects the public columns only, and only the pool
 * (src/pool/pool.ts) reads a password, into memory, for the request it leases the proxy for.
 */
import type { Sql } from '../db/sql.js';
import type { DisabledReason, ProxyStatus, RestReason } from '../enums.js';
import { registerSecret } from '../logging/redact.js';
import { ConflictError, isUuid, NotFoundError, pgCode, PG_UNIQUE_VIOLATION, ValidationError } from './errors.js';
import type { Queryable } from './logs.js';
import { decodeCursor, InvalidCursorError, toPage, type Page } from './pagination.js';

/** A proxy row without its credentials. */
export interface ProxyRow {
  id: string;
  url: string;
  status: ProxyStatus;
  disabled_reason: DisabledReason | null;
  rest_reason: RestReason | null;
  last_error: string | null;
  last_checked_at: Date | null;
  rate_limited_until: Date | null;
  next_free_at: Date | null;
  last_used_at: Date | null;
  success_count: number;
  failure_count: number;
  consecutive_failures: number;
  /** Requests through it right now (sent, or reserved and waiting for their send time). */
  in_flight: number;
  /** The rate it sustains without 429s, learned from its answers; null until its first 429. */
  learned_rate_per_s: number | null;
  created_at: Date;
}

export interface CreateProxyInput {
  url: string;
  username?: string | null;
  password?: string | null;
}

const PUBLIC_COLUMNS = (sql: Queryable) =>
  sql`id, url, status, disabled_reason, rest_reason, last_error, last_checked_at, rate_limited_until, next_free_at, last_used_at, success_count, failure_count,
      consecutive_failures, in_flight, learned_rate_per_s, created_at`;

/**
 * The status a reader should see: the stored 'cooling_down' lapses by itself once rate_limited_until has
 * passed (the pool writes 'active' back only when it next leases the proxy).
 */
export function effectiveStatus(row: Pick<ProxyRow, 'status' | 'rate_limited_until'>, now: Date = new Date()): ProxyStatus {
  if (row.status === 'disabled') return 'disabled';
  if (row.rate_limited_until && row.rate_limited_until.getTime() > now.getTime()) return 'cooling_down';
  return 'active';
}

function decodePart(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new ValidationError('url holds badly encoded credentials', { field: 'url' });
  }
}

/**
 * Splits a proxy URL into the stored form (`scheme://host[:port]`) and its credentials. Error messages never
 * echo the input: it may hold a password.
 */
export function parseProxyInput(input: CreateProxyInput): { url: string; username: string | null; password: string | null } {
  if (typeof input.url !== 'string' || input.url.trim() === '') {
    throw new ValidationError('url is required', { field: 'url' });
  }
  let parsed: URL;
  try {
    parsed = new URL(input.url.trim());
  } catch {
    throw new ValidationError('url must be an absolute http:// or https:// proxy URL', { field: 'url' });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ValidationError('only http and https proxies are supported', { field: 'url' });
  }
  if (!parsed.hostname || (parsed.pathname !== '/' && parsed.pathname !== '') || parsed.search || parsed.hash) {
    throw new ValidationError('url must be scheme://[user:password@]host[:port] with no path, query or fragment', {
      field: 'url',
    });
  }
  const embeddedUser = parsed.username ? decodePart(parsed.username) : null;
  const embeddedPassword = parsed.password ? decodePart(parsed.password) : null;
  registerSecret(embeddedPassword);
  registerSecret(input.password);
  const explicit = (input.username ?? null) !== null || (input.password ?? null) !== null;
  if (explicit && (embeddedUser !== null || embeddedPassword !== null)) {
    throw new ValidationError('give credentials either inside url or as username and password, not both', {
      field: 'url',
    });
  }
  const username = explicit ? (input.username ?? null) : embeddedUser;
  const password = explicit ? (input.password ?? null) : embeddedPassword;
  if (password !== null && !username) {
    throw new ValidationError('a password needs a username', { field: 'username' });
  }
  return { url: `${parsed.protocol}//${parsed.host}`, username: username || null, password: password || null };
}

/** Adds a proxy. The same host:port twice is a ConflictError. */
export async function createProxy(sql: Sql, input: CreateProxyInput): Promise<ProxyRow> {
  const { url, username, password } = parseProxyInput(input);
  try {
    const [row] = await sql<ProxyRow[]>`
      insert into proxies (url, username, password) values (${url}, ${username}, ${password})
      returning ${PUBLIC_COLUMNS(sql)}`;
    if (!row) throw new Error('insert returned no row');
    return row;
  } catch (err) {
    if (pgCode(err) === PG_UNIQUE_VIOLATION) {
      throw new ConflictError(`a proxy with url ${url} already exists`, { details: { url } });
    }
    throw err;
  }
}

export async function getProxy(sql: Queryable, id: string): Promise<ProxyRow> {
  if (!isUuid(id)) throw new NotFoundError(`proxy ${id} not found`);
  const [row] = await sql<ProxyRow[]>`select ${PUBLIC_COLUMNS(sql)} from proxies where id = ${id}`;
  if (!row) throw new NotFoundError(`proxy ${id} not found`);
  return row;
}

/** Proxies ordered by url (unique, and the order an operator scans for). */
export async function listProxies(sql: Sql, options: { limit: number; cursor?: string | null }): Promise<Page<ProxyRow>> {
  const limit = Math.max(1, Math.min(1000, Math.trunc(options.limit)));
  const key = decodeCursor(options.cursor);
  const after = key?.[0];
  if (key && typeof after !== 'string') throw new InvalidCursorError('cursor is not valid');
  const rows = await sql<ProxyRow[]>`
    select ${PUBLIC_COLUMNS(sql)} from proxies
    ${after === undefined ? sql`` : sql`where url collate "C" > ${after as string}`}
    order by url collate "C"
    limit ${limit + 1}`;
  return toPage(rows, limit, (r) => [r.url]);
}

/**
 * An operator's switch. Re-activating forgives the past: the failure streak and any cooldown are cleared,
 * so the proxy is leasable at once. Disabling leaves a current lease to finish; a proxy an operator disabled
 * is never re-enabled by the pool or the health schedule.
 */
export async function setProxyStatus(sql: Sql, id: string, status: 'active' | 'disabled'): Promise<ProxyRow> {
  if (status !== 'active' && status !== 'disabled') {
    throw new ValidationError('status must be active or disabled', { field: 'status' });
  }
  if (!isUuid(id)) throw new NotFoundError(`proxy ${id} not found`);
  const [row] =
    status === 'active'
      ? await sql<ProxyRow[]>`
          update proxies set status = 'active', disabled_reason = null, rest_reason = null, consecutive_failures = 0,
            rate_limited_until = null
          where id = ${id} returning ${PUBLIC_COLUMNS(sql)}`
      : await sql<ProxyRow[]>`
          update proxies set status = 'disabled', disabled_reason = 'operator' where id = ${id} returning ${PUBLIC_COLUMNS(sql)}`;
  if (!row) throw new NotFoundError(`proxy ${id} not found`);
  return row;
}

/** Removes a proxy; sessions paired with it become unpaired, past results and logs keep its id as history. */
export async function deleteProxy(sql: Sql, id: string): Promise<void> {
  if (!isUuid(id)) throw new NotFoundError(`proxy ${id} not found`);
  const [row] = await sql<{ id: string }[]>`delete from proxies where id = ${id} returning id`;
  if (!row) throw new NotFoundError(`proxy ${id} not found`);
}

/**
 * Registers every stored proxy password, session token and webhook signing secret with `redact`, so that a
 * secret which reaches a log line or an error message by any path is scrubbed. Call once at process start (worker, API).
 * Returns how many values were registered.
 */
export async function loadSecrets(sql: Queryable): Promise<number> {
  const rows = await sql<{ secret: string }[]>`
    select password as secret from proxies where password is not null
    union all
    select token as secret from sessions
    union all
    select secret from webhook_secrets`;
  for (const { secret } of rows) registerSecret(secret);
  return rows.length;
}
