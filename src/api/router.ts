/**
 * What every resource router shares: the dependencies it is built with and the way it is created
 * (an OpenAPIHono whose failed validations answer docs/api.md's 400 validation_error).
 */
import { createRoute as createOpenApiRoute, OpenAPIHono, z, type RouteConfig } from '@hono/zod-openapi';
import type { Client } from '@temporalio/client';
import type { RequestIdVariables } from 'hono/request-id';
import type { BatchControl } from '../queue/batch-control.js';
import type { Config } from '../config.js';
import type { Sql } from '../db/sql.js';
import type { Logger } from '../logging/logger.js';
import { isOpenRoute } from './auth.js';
import { validationHook } from './errors.js';
import type { TemporalGate } from './readiness.js';
import { ErrorSchema } from './schemas.js';

export type AppEnv = { Variables: RequestIdVariables };

export interface RouterDeps {
  /** The pool of request handling. */
  sql: Sql;
  /** The pool of the background readers: event streams and the metrics scrape. */
  backgroundSql: Sql;
  /** The pool of /readyz alone, so that the probe answers whatever the requests are doing. */
  readinessSql: Sql;
  temporal: Client;
  config: Config;
  logger: Logger;
  batchControl: BatchControl;
  temporalGate: TemporalGate;
  /** How often the event streams (GET /batches/:id/events, GET /events/stream) look for changes. */
  eventsIntervalMs: number;
  shutdown?: AbortSignal;
}

export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
}

/**
 * A route definition, documented as needing no key when auth.ts lets it answer without one (`publicMetrics` as
 * for apiAuth): which routes are open is written there alone.
 */
export function createRoute<P extends string, R extends Omit<RouteConfig, 'path'> & { path: P }>(
  route: R,
  options: { publicMetrics?: boolean } = {},
) {
  const open = isOpenRoute(route.method.toUpperCase(), route.path, options);
  return createOpenApiRoute<P, R>(open ? { ...route, security: [] } : route);
}

/** The response entry of an event stream route (Server-Sent Events). */
export function eventStream() {
  return { description: 'an event stream', content: { 'text/event-stream': { schema: z.string() } } };
}

/** A JSON response entry of a route definition. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

const ERROR_DESCRIPTIONS = {
  400: 'validation_error: bad JSON, wrong types, unknown ids, invalid usernames (details says which)',
  401: 'unauthorized: missing or wrong bearer token',
  404: 'not_found: no such resource (an id of the wrong shape names none either)',
  405: 'method_not_allowed: the path exists, not with this method (the Allow header lists those it has)',
  409: 'conflict: illegal state transition or duplicate (batch_running names the running batch)',
  413: 'payload_too_large',
  415: 'unsupported_media_type: the body must be JSON (Content-Type: application/json)',
  503: 'unavailable: Postgres, Temporal or every worker unreachable, or every Postgres connection of the API busy (details.component names it; Retry-After says when to try again)',
} as const;

type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

/** Error responses a route documents (401, 405 and 503 apply to every protected route). */
export function errors<S extends ErrorStatus>(...statuses: S[]) {
  const all = [...new Set<ErrorStatus>([...statuses, 401, 405, 503])];
  return Object.fromEntries(all.map((s) => [s, json(ErrorSchema, ERROR_DESCRIPTIONS[s])])) as {
    [K in S | 401 | 405 | 503]: ReturnType<typeof json<typeof ErrorSchema>>;
  };
}

/** Error responses of a route taking a JSON body: 400 for a bad one, 413 too large, 415 not JSON. */
export function bodyErrors<S extends ErrorStatus>(...statuses: S[]) {
  return errors<S | 400 | 413 | 415>(400, 413, 415, ...statuses);
}
