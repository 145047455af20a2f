/**
 * GET /healthz: the process is up. GET /readyz: Postgres and Temporal both answer, each within a bounded
 * time; otherwise 503 naming the part that does not. Both are on auth.ts's list of open routes (probes carry no key).
 */
import { errorBody } from '../errors.js';
import { pingPostgres, pingTemporal } from '../readiness.js';
import { createRoute, createRouter, json, type RouterDeps } from '../router.js';
import { ErrorSchema, Health, Readiness } from '../schemas.js';

const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['health'],
  summary: 'Liveness: the process is up',
  responses: { 200: json(Health, 'the process is up'), 405: json(ErrorSchema, 'method_not_allowed') },
});

const readyz = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['health'],
  summary: 'Readiness: Postgres and Temporal reachable',
  responses: {
    200: json(Readiness, 'both dependencies answer'),
    503: json(
      Readiness.extend({ error: ErrorSchema.shape.error }),
      'at least one dependency does not answer: its field says "unavailable", error.details.failing names it',
    ),
    405: json(ErrorSchema, 'method_not_allowed'),
  },
});

export function healthRouter({ readinessSql, temporal }: Pick<RouterDeps, 'readinessSql' | 'temporal'>) {
  return createRouter()
    .openapi(healthz, (c) => c.json({ status: 'ok' as const }, 200))
    .openapi(readyz, async (c) => {
      const [pg, tp] = await Promise.all([pingPostgres(readinessSql), pingTemporal(temporal)]);
      const body = {
        status: pg && tp ? ('ready' as const) : ('unavailable' as const),
        postgres: pg ? ('ok' as const) : ('unavailable' as const),
        temporal: tp ? ('ok' as const) : ('unavailable' as const),
      };
      if (pg && tp) return c.json(body, 200);
      // also in docs/api.md's error shape, so a client that only reads `error` understands it too
      const failing = [...(pg ? [] : ['postgres']), ...(tp ? [] : ['temporal'])];
      const names = failing.map((f) => (f === 'postgres' ? 'Postgres' : 'Temporal')).join(' and ');
      return c.json({ ...body, ...errorBody('unavailable', `${names} unreachable`, { failing }) }, 503);
    });
}
