/**
 * GET /metrics: Prometheus text of the API process and of the state every process shares (the queue, the
 * running batch, the proxies), read from Postgres at each scrape (src/api/metrics.ts). It needs the key like
 * any route unless METRICS_PUBLIC is true; the workers' own series are at their WORKER_METRICS_PORT.
 */
import { z } from '@hono/zod-openapi';
import { createApiMetrics } from '../metrics.js';
import { createRoute, createRouter, errors, type RouterDeps } from '../router.js';

export function metricsRouter({ backgroundSql, config }: Pick<RouterDeps, 'backgroundSql' | 'config'>) {
  // a scrape reads on the background pool, beside the requests' own
  const metrics = createApiMetrics({ sql: backgroundSql });
  const route = createRoute(
    {
      method: 'get',
      path: '/metrics',
      tags: ['health'],
      summary: 'Prometheus metrics: the queue, the running batch, the proxies, and this process',
      responses: {
        200: {
          description: 'Prometheus text exposition format 0.0.4',
          content: { 'text/plain': { schema: z.string() } },
        },
        ...errors(),
      },
    },
    // open with METRICS_PUBLIC, as auth.ts lets it answer
    { publicMetrics: config.METRICS_PUBLIC },
  );
  return createRouter().openapi(route, async (c) => {
    const { contentType, body } = await metrics.render();
    return c.text(body, 200, { 'content-type': contentType });
  });
}
