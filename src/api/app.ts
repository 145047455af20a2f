/**
 * The HTTP API (docs/api.md) as a Hono app: one router per resource, request ids, auth (bearer key, or the
 * dashboard's cookie), refusal of cross-site state changes, a body limit, the OpenAPI 3.1 document generated
 * from the same zod schemas that validate requests, Swagger UI (served from node_modules, see docs-page.ts),
 * the dashboard (src/console), and a single error handler producing docs/api.md's error shape. Building it
 * opens nothing: tests call `app.request()` directly, `main.ts` serves it.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Client } from '@temporalio/client';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { createBatchControl, type BatchControl } from '../queue/batch-control.js';
import { consoleRouter } from '../console/routes.js';
import type { Config } from '../config.js';
import type { Sql } from '../db/sql.js';
import type { Logger } from '../logging/logger.js';
import { apiAuth } from './auth.js';
import { docsRouter } from './docs-page.js';
import { rejectCrossSite } from './cross-site.js';
import { createErrorHandler, methodNotAllowed, notFoundHandler, validationHook } from './errors.js';
import { createTemporalGate } from './readiness.js';
import type { AppEnv, RouterDeps } from './router.js';
import { batchesRouter } from './routes/batches.js';
import { eventsRouter } from './routes/events.js';
import { healthRouter } from './routes/health.js';
import { metricsRouter } from './routes/metrics.js';
import { nichesRouter } from './routes/niches.js';
import { profileHistoryRouter } from './routes/profile-history.js';
import { profilesRouter } from './routes/profiles.js';
import { proxiesRouter } from './routes/proxies.js';
import { queueRouter } from './routes/queue.js';
import { sessionsRouter } from './routes/sessions.js';
import { watchesRouter } from './routes/watches.js';
import { webhooksRouter } from './routes/webhooks.js';
import { MAX_BATCH_PROFILES } from './schemas.js';

/**
 * Large enough for a batch of 100,000 profile ids (about 4 MB of JSON) or usernames (up to about 80 bytes
 * each, "@" and surrounding spaces included) in one body.
 */
export const BODY_LIMIT_BYTES = 8 * 1024 * 1024;

/** The 413 message: the limit, and what fits in it, so a client knows how to split its request. */
export function tooLargeMessage(limitBytes: number): string {
  const mb = Math.round((limitBytes / 2 ** 20) * 10) / 10;
  return `the request body is too large: at most ${mb} MB (a batch holds at most ${MAX_BATCH_PROFILES} profile ids or usernames)`;
}

export interface AppDeps {
  /** The pool of request handling; also the other two when they are not given. */
  sql: Sql;
  /** The pool of event streams and the metrics scrape (see src/api/server.ts). */
  backgroundSql?: Sql;
  /** The pool of /readyz. */
  readinessSql?: Sql;
  temporal: Client;
  config: Config;
  logger: Logger;
  /** Defaults to one built on sql, temporal and the configured task queue. */
  batchControl?: BatchControl;
  /** Poll interval of the event streams, GET /batches/:id/events and GET /events/stream (default 500 ms). */
  eventsIntervalMs?: number;
  bodyLimitBytes?: number;
  /** Aborted at shutdown so that open event streams end. */
  shutdown?: AbortSignal;
}

/** Each routed path with the methods it answers (HEAD wherever GET is: Hono answers it from the GET route). */
function methodsByPath(routes: ReadonlyArray<{ method: string; path: string }>): Map<string, string[]> {
  const byPath = new Map<string, Set<string>>();
  for (const { method, path } of routes) {
    if (method === 'ALL') continue; // middleware
    const methods = byPath.get(path) ?? new Set<string>();
    methods.add(method);
    if (method === 'GET') methods.add('HEAD');
    byPath.set(path, methods);
  }
  return new Map([...byPath].map(([path, methods]) => [path, [...methods].sort()]));
}

export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const { sql, temporal, config, logger } = deps;
  const routerDeps: RouterDeps = {
    sql,
    backgroundSql: deps.backgroundSql ?? sql,
    readinessSql: deps.readinessSql ?? sql,
    temporal,
    config,
    logger,
    batchControl:
      deps.batchControl ?? createBatchControl({ sql, temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, logger }),
    temporalGate: createTemporalGate(temporal),
    eventsIntervalMs: deps.eventsIntervalMs ?? 500,
    shutdown: deps.shutdown,
  };

  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use('*', requestId());
  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    logger.debug('request', {
      request_id: c.get('requestId'),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    });
  });
  app.use('*', rejectCrossSite());
  if (config.API_KEY) app.use('*', apiAuth(config.API_KEY, { publicMetrics: config.METRICS_PUBLIC }));
  app.use(
    '*',
    bodyLimit({
      maxSize: deps.bodyLimitBytes ?? BODY_LIMIT_BYTES,
      onError: () => {
        throw new HTTPException(413, { message: tooLargeMessage(deps.bodyLimitBytes ?? BODY_LIMIT_BYTES) });
      },
    }),
  );

  app.route('/', consoleRouter({ config, logger }));
  app.route('/', healthRouter(routerDeps));
  app.route('/', nichesRouter(routerDeps));
  app.route('/', profilesRouter(routerDeps));
  app.route('/', profileHistoryRouter(routerDeps));
  app.route('/', proxiesRouter(routerDeps));
  app.route('/', sessionsRouter(routerDeps));
  app.route('/', batchesRouter(routerDeps));
  app.route('/', watchesRouter(routerDeps));
  app.route('/', queueRouter(routerDeps));
  app.route('/', eventsRouter(routerDeps));
  app.route('/', metricsRouter(routerDeps));
  app.route('/', webhooksRouter(routerDeps));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'Authorization: Bearer <API_KEY> (required when the server has API_KEY set)',
  });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'storycheck',
      version: '1.0.0',
      description: 'Checks, through a pool of HTTP forward proxies, which social profiles have an active story.',
    },
    security: [{ bearerAuth: [] }],
  });
  app.route('/', docsRouter());

  // registered last, so a path's own methods answer first: any other method is 405, not 404
  for (const [path, allowed] of methodsByPath(app.routes)) app.all(path, (c) => methodNotAllowed(c, allowed));
  app.notFound(notFoundHandler);
  app.onError(createErrorHandler(logger));
  return app;
}
