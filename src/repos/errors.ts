/**
 * Domain errors raised by the repositories and the controls beside them (src/queue, src/watches). They carry no
 * HTTP knowledge: the API maps them to docs/api.md's error shape (`NotFoundError` → 404 not_found,
 * `ConflictError` → 409, `ValidationError` → 400 validation_error, `UnavailableError` → 503 unavailable).
 * Messages are written for the API consumer and never contain a secret.
 */

/** What a request needs that can be unreachable. */
export type Component = 'postgres' | 'temporal' | 'worker';

/**
 * A dependency the request needs is unreachable or saturated (answered as 503 unavailable, naming it, with
 * Retry-After: the seconds after which another try is worth it).
 */
export class UnavailableError extends Error {
  override name = 'UnavailableError';
  constructor(
    readonly component: Component,
    message = `${component === 'postgres' ? 'Postgres' : component === 'temporal' ? 'Temporal' : 'No worker'} is unreachable; try again shortly`,
    readonly retryAfterS = 2,
  ) {
    super(message);
  }
}

export class NotFoundError extends Error {
  override name = 'NotFoundError';
  readonly code = 'not_found';
}

export class ConflictError extends Error {
  override name = 'ConflictError';
  /** A more precise machine code than plain `conflict` (e.g. `batch_running`). */
  readonly code: string;
  readonly details: unknown;

  constructor(message: string, options: { code?: string; details?: unknown } = {}) {
    super(message);
    this.code = options.code ?? 'conflict';
    this.details = options.details;
  }
}

export class ValidationError extends Error {
  override name = 'ValidationError';
  readonly code = 'validation_error';
  /** Says which input was wrong (e.g. `{ invalid_usernames: [...] }`). */
  readonly details: unknown;

  constructor(message: string, details?: unknown) {
    super(message);
    this.details = details;
  }
}

/** Postgres SQLSTATE of an error thrown by postgres.js, if any. */
export function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** SQLSTATEs the repositories translate into domain errors. */
export const PG_UNIQUE_VIOLATION = '23505';
export const PG_FOREIGN_KEY_VIOLATION = '23503';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Ids reach the repositories straight from URLs and bodies; checking the shape first turns a malformed id
 * into the domain error the caller expects instead of a Postgres cast error (22P02).
 */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}
