/**
 * What the API serves to anyone (health, readiness, its OpenAPI document and Swagger UI), the bearer key on
 * everything else, and the 405 answers that the document lists.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/api/app.js';
import { loadConfig } from '../../../src/config.js';
import { createLogger } from '../../../src/logging/logger.js';
import { API_KEY, expectError, startApiUnderTest } from '../../helpers/api.js';

const api = startApiUnderTest({ temporal: true });
const call = api.call.bind(api);
afterAll(() => api.expectNoSecrets());

describe('health and documentation', () => {
  it('answers /healthz and /readyz, and echoes request ids', async () => {
    const health = await call('GET', '/healthz', undefined, { auth: false });
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
    expect(health.headers.get('x-request-id')).toMatch(/^[\w-]{8,}$/);

    const ready = await call('GET', '/readyz', undefined, { auth: false, headers: { 'x-request-id': 'probe-42' } });
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', postgres: 'ok', temporal: 'ok' });
    expect(ready.headers.get('x-request-id')).toBe('probe-42');
  });

  it('serves a valid OpenAPI 3.1 document listing every route, and Swagger UI', async () => {
    const res = await call('GET', '/openapi.json', undefined, { auth: false });
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    expect(typeof doc.info.title).toBe('string');
    expect(typeof doc.info.version).toBe('string');
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });

    // every route the app serves is documented (except the document itself, its UI and the UI's assets, and the
    // dashboard's page, assets and sign-in, which serve a browser)
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries<Record<string, unknown>>(doc.paths)) {
      for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    const served = api.app.routes
      .filter((r) => r.method !== 'ALL' && !['/openapi.json', '/docs', '/'].includes(r.path) && !/^\/(console|docs)\//.test(r.path))
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    expect(new Set(served)).toEqual(documented);
    for (const route of [
      'POST /niches', 'GET /niches', 'POST /profiles', 'GET /profiles', 'GET /profiles/{id}', 'POST /proxies',
      'GET /proxies', 'GET /proxies/{id}', 'PATCH /proxies/{id}', 'DELETE /proxies/{id}', 'POST /sessions',
      'GET /sessions', 'DELETE /sessions/{id}', 'POST /batches', 'GET /batches', 'GET /batches/{id}',
      'POST /batches/{id}/start', 'POST /batches/{id}/pause', 'POST /batches/{id}/resume', 'POST /batches/{id}/cancel',
      'GET /batches/{id}/profiles', 'GET /batches/{id}/logs', 'GET /batches/{id}/events', 'GET /queue',
      'POST /queue/pause', 'POST /queue/resume', 'GET /healthz', 'GET /readyz',
    ]) {
      expect(documented, route).toContain(route);
    }

    // structurally valid: operations have responses, path parameters are declared, every $ref resolves
    for (const [path, ops] of Object.entries<Record<string, { responses: Record<string, { description: string }>; parameters?: Array<{ name: string; in: string }> }>>(doc.paths)) {
      expect(path.startsWith('/')).toBe(true);
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const op of Object.values(ops)) {
        expect(Object.keys(op.responses).length).toBeGreaterThan(0);
        for (const r of Object.values(op.responses)) expect(typeof r.description).toBe('string');
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        expect(declared.sort()).toEqual([...templated].sort());
      }
    }
    const refs = [...res.text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(doc.components.schemas, ref).toHaveProperty(ref);

    const docs = await call('GET', '/docs', undefined, { auth: false });
    expect(docs.status).toBe(200);
    expect(docs.text).toContain('swagger-ui');
    expect(docs.text).toContain('/openapi.json');
  });
});

/**
 * The status of a request with the key. A stream that opens (GET /events/stream) stays open, so only its status
 * is read and the stream is then closed.
 */
async function acceptedStatus(method: string, url: string, body: unknown): Promise<number> {
  const headers: Record<string, string> = { authorization: `bearer ${API_KEY}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await api.app.request(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  await res.body?.cancel();
  return res.status;
}

describe('authentication', () => {
  it('requires the bearer key on every protected route of the OpenAPI document; the open ones stay open', async () => {
    const doc = (await call('GET', '/openapi.json', undefined, { auth: false })).body;
    let protectedCount = 0;
    for (const [path, ops] of Object.entries<Record<string, { security?: unknown[] }>>(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const url = path.replace(/\{\w+\}/g, randomUUID());
        const body = ['post', 'patch'].includes(method) ? {} : undefined;
        const isOpen = Array.isArray(op.security) && op.security.length === 0;
        const none = await call(method.toUpperCase(), url, body, { auth: false });
        if (isOpen) {
          expect(none.status, `${method} ${path}`).not.toBe(401);
          continue;
        }
        protectedCount++;
        expectError(none, 401, 'unauthorized');
        expect(none.headers.get('www-authenticate')).toBe('Bearer');
        expectError(await call(method.toUpperCase(), url, body, { auth: 'Bearer wrong-key' }), 401, 'unauthorized');
        expectError(await call(method.toUpperCase(), url, body, { auth: `Bearer ${API_KEY}x` }), 401, 'unauthorized');
        expectError(await call(method.toUpperCase(), url, body, { auth: `Basic ${API_KEY}` }), 401, 'unauthorized');
        expect(await acceptedStatus(method.toUpperCase(), url, body), `${method} ${path}`).not.toBe(401);
      }
    }
    expect(protectedCount).toBeGreaterThanOrEqual(26);
    for (const open of ['/healthz', '/readyz', '/openapi.json', '/docs']) {
      expect((await call('GET', open, undefined, { auth: false })).status, open).toBe(200);
    }
  });

  it('leaves the API open when API_KEY is unset', async () => {
    const open = createApp({ sql: api.db.sql, temporal: api.env.client, config: loadConfig({}), logger: createLogger() });
    const res = await call('GET', '/niches', undefined, { auth: false, target: open });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ items: [], next_cursor: null });
  });
});

describe('method not allowed (405)', () => {
  it('answers another method on a known path with 405, an Allow header and the error shape', async () => {
    const id = randomUUID();
    const cases: Array<[string, string, string]> = [
      ['PUT', '/niches', 'GET, HEAD, POST'],
      ['PUT', `/niches/${id}`, 'GET, HEAD'],
      ['DELETE', '/queue', 'GET, HEAD'],
      ['GET', '/queue/pause', 'POST'],
      ['PATCH', `/batches/${id}/start`, 'POST'],
      ['POST', `/proxies/${id}`, 'DELETE, GET, HEAD, PATCH'],
      ['OPTIONS', '/sessions', 'GET, HEAD, POST'],
      ['DELETE', '/healthz', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await call(method, path);
      expectError(res, 405, 'method_not_allowed');
      expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow);
    }
    expect((await call('HEAD', '/niches')).status).toBe(200);
    expectError(await call('PUT', '/no/such/route'), 404, 'not_found');
    // still behind the key
    expectError(await call('PUT', '/niches', undefined, { auth: false }), 401, 'unauthorized');
  });

  it('documents what the server answers: 405 everywhere, 415 with a body, a nullable running batch, one batch source', async () => {
    const doc = (await call('GET', '/openapi.json', undefined, { auth: false })).body;
    for (const [path, ops] of Object.entries<Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>>(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(Object.keys(op.responses), `${method} ${path}`).toContain('405');
        if (op.requestBody) expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['400', '413', '415']));
      }
    }
    expect(doc.components.schemas.Queue.properties.running.anyOf).toEqual([{ $ref: '#/components/schemas/Batch' }, { type: 'null' }]);
    expect(doc.components.schemas.CreateBatch.oneOf).toEqual([
      { required: ['profile_ids'] },
      { required: ['niche_id'] },
      { required: ['usernames'] },
    ]);
    expect(doc.components.schemas.CreateSession.properties.token).toMatchObject({ maxLength: 4096 });
    const queue = await call('GET', '/queue');
    expect(queue.body.running).toBeNull();
  });
});
