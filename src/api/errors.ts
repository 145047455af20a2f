/**
 * The one translation from failures to docs/api.md's error shape: `{"error": {"code", "message", "details?"}}`.
 * Domain errors from the repositories, Hono's HTTPExceptions (bad JSON, body limit, media type), request
 * validation failures and infrastructure outages each get their status here; anything unexpected is logged
 * with the request id and becomes a bare 500. A body never carries a stack trace, and every message passes
 * through `redact`, so a secret cannot leave even if one slipped into an error message.
 */
import { isGrpcServiceError, ServiceError } from '@temporalio/client';
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { PoolBusyError } from '../db/guard.js';
import type { Logger } from '../logging/logger.js';
import { redact } from '../logging/redact.js';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../repos/errors.js';
import { InvalidCursorError } from '../repos/pagination.js';

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export { UnavailableError, type Component } from '../repos/errors.js';

/** Every connection a request could use stayed busy: the shortest of waits, so the earliest retry. */
const poolBusy = () => new UnavailableError('postgres', 'every Postgres connection of the API is busy; try again shortly', 1);

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return { error: { code, message: redact(message), ...(details === undefined ? {} : { details }) } };
}

export function errorResponse(c: Context, status: ContentfulStatusCode, code: string, message: string, details?: unknown) {
  return c.json(errorBody(code, message, details), status);
}

// postgres.js raises these codes when it cannot reach or lost the server (no SQLSTATE involved)
const PG_CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

/**
 * Whether `err` means "Postgres is not there right now": a socket failure, or a server-side SQLSTATE of
 * class 08 (connection exception), 57P0x (shutting down / not accepting yet), 53300 (too many clients),
 * 57014 (a statement ended by statement_timeout) or 25P03 (a transaction ended by
 * idle_in_transaction_session_timeout): the server was too slow or the session was ended, and a retry may pass.
 */
export function isPostgresUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return (
    PG_CONNECTION_CODES.has(code) ||
    code.startsWith('08') ||
    /^57P0[1-3]$/.test(code) ||
    code === '53300' ||
    code === '57014' ||
    code === '25P03'
  );
}

// gRPC status codes meaning the Temporal frontend could not be reached or answered too late
const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

export function isTemporalUnavailable(err: unknown): boolean {
  const grpc = err instanceof ServiceError ? err.cause : err;
  if (!isGrpcServiceError(grpc)) return false;
  return grpc.code === GRPC_UNAVAILABLE || grpc.code === GRPC_DEADLINE_EXCEEDED;
}

// SQLSTATEs caused by input Postgres could not cast (ids and cursors are checked before they reach SQL,
// so this is only a safety net; the database's message quotes the input and is not passed on)
const PG_BAD_INPUT = new Set(['22P02', '22007', '22008', '22003']);

const HTTP_CODES: Record<number, string> = {
  400: 'validation_error',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  503: 'unavailable',
};

function fromHttpException(c: Context, err: HTTPException) {
  const status = err.status as ContentfulStatusCode;
  const code = HTTP_CODES[status] ?? (status >= 500 ? 'internal' : 'error');
  let message = err.message;
  // the body limit's own message names the limit; any other 413 gets the plain one
  if (status === 413 && !message.startsWith('the request body is too large')) message = 'the request body is too large';
  if (status === 415) message = 'the request body must be JSON (Content-Type: application/json)';
  if (!message) message = code.replace(/_/g, ' ');
  // Hono's JSON validator raises a bare 400 for a body that does not parse
  const details = status === 400 && /json/i.test(message) ? { in: 'body', reason: 'malformed JSON' } : undefined;
  const res = errorResponse(c, status, code, message, details);
  if (status === 401) res.headers.set('WWW-Authenticate', 'Bearer');
  return res;
}

/** The `app.onError` handler. */
export function createErrorHandler(logger: Logger): ErrorHandler {
  return (err, c) => {
    if (err instanceof ValidationError) return errorResponse(c, 400, 'validation_error', err.message, err.details);
    if (err instanceof InvalidCursorError) {
      return errorResponse(c, 400, 'validation_error', 'cursor is not valid', { field: 'cursor' });
    }
    if (err instanceof NotFoundError) return errorResponse(c, 404, 'not_found', err.message);
    if (err instanceof ConflictError) return errorResponse(c, 409, err.code, err.message, err.details);
    if (err instanceof HTTPException) return fromHttpException(c, err);

    const requestId = c.get('requestId') as string | undefined;
    let unavailable: UnavailableError | null = null;
    if (err instanceof UnavailableError) unavailable = err;
    else if (err instanceof PoolBusyError) unavailable = poolBusy();
    else if (isPostgresUnavailable(err)) unavailable = new UnavailableError('postgres');
    else if (isTemporalUnavailable(err)) unavailable = new UnavailableError('temporal');
    if (unavailable) {
      logger.warn('dependency unavailable', { request_id: requestId, dependency: unavailable.component, err });
      const res = errorResponse(c, 503, 'unavailable', unavailable.message, { component: unavailable.component });
      res.headers.set('Retry-After', String(unavailable.retryAfterS));
      return res;
    }

    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && PG_BAD_INPUT.has(code)) {
      return errorResponse(c, 400, 'validation_error', 'a value in the request has the wrong format');
    }

    logger.error('request failed', { request_id: requestId, method: c.req.method, path: c.req.path, err });
    return errorResponse(c, 500, 'internal', `internal error (request id ${requestId ?? 'unknown'})`, {
      request_id: requestId,
    });
  };
}

export const notFoundHandler: NotFoundHandler = (c) =>
  errorResponse(c, 404, 'not_found', `no route for ${c.req.method} ${c.req.path}`);

/** The answer to another method on a path that exists: 405 with the methods it has (RFC 9110 wants Allow). */
export function methodNotAllowed(c: Context, allowed: readonly string[]) {
  const res = errorResponse(c, 405, 'method_not_allowed', `${c.req.method} is not allowed on ${c.req.path}`, {
    allowed,
  });
  res.headers.set('Allow', allowed.join(', '));
  return res;
}

const TARGET_NAMES: Record<string, string> = { json: 'body', query: 'query', param: 'path', header: 'header' };

/** Zod issues as docs/api.md's `details`: where (`in`), which field (`path`), and what is wrong. */
export function describeZodError(target: string, error: ZodError) {
  const where = TARGET_NAMES[target] ?? target;
  const issues = error.issues.map((i) => ({ in: where, path: i.path.map(String).join('.'), message: i.message }));
  const first = issues[0];
  const summary = first ? `${first.path || where}: ${first.message}` : 'invalid input';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return { message: `invalid request ${where}: ${summary}${more}`, details: { issues: issues.slice(0, 100) } };
}

/** zod-openapi's `defaultHook`: a failed validation of any part of the request becomes 400 validation_error. */
export function validationHook(result: { success: boolean; target: string; error?: ZodError }, c: Context) {
  if (result.success || !result.error) return undefined;
  const { message, details } = describeZodError(result.target, result.error);
  return errorResponse(c, 400, 'validation_error', message, details);
}
