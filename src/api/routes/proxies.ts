/**
 * Proxies: POST/GET /proxies, GET/PATCH/DELETE /proxies/:id. Every proxy leaves through `toApiProxy`, which
 * knows no credentials: the url is shown without them and the password is never read back.
 *
 * A proxy added or enabled is announced to the running batch once committed (batch-control.ts): chunks waiting
 * for a proxy to come back are sent again at once.
 */
import { createProxy, deleteProxy, getProxy, listProxies, setProxyStatus } from '../../repos/proxies.js';
import { bodyErrors, createRoute, createRouter, errors, json, type RouterDeps } from '../router.js';
import { apiPage, textCursor } from '../cursors.js';
import { toApiProxies, toApiProxy } from '../present.js';
import { CreateProxy, IdParam, Proxy, ProxyPage, ProxyQuery, UpdateProxy } from '../schemas.js';

const create = createRoute({
  method: 'post',
  path: '/proxies',
  tags: ['proxies'],
  summary: 'Add an http(s) forward proxy (credentials in the url, or as username and password)',
  request: { body: { required: true, content: { 'application/json': { schema: CreateProxy } } } },
  responses: { 201: json(Proxy, 'created (url without credentials)'), ...bodyErrors(409) },
});

const list = createRoute({
  method: 'get',
  path: '/proxies',
  tags: ['proxies'],
  summary: 'List proxies by url',
  request: { query: ProxyQuery },
  responses: { 200: json(ProxyPage, 'a page of proxies'), ...errors(400) },
});

const get = createRoute({
  method: 'get',
  path: '/proxies/{id}',
  tags: ['proxies'],
  summary: 'One proxy',
  request: { params: IdParam },
  responses: { 200: json(Proxy, 'the proxy'), ...errors(404) },
});

const update = createRoute({
  method: 'patch',
  path: '/proxies/{id}',
  tags: ['proxies'],
  summary: 'Enable (also clears the failure streak and any cooldown) or disable a proxy',
  request: { params: IdParam, body: { required: true, content: { 'application/json': { schema: UpdateProxy } } } },
  responses: { 200: json(Proxy, 'the updated proxy'), ...bodyErrors(404) },
});

const remove = createRoute({
  method: 'delete',
  path: '/proxies/{id}',
  tags: ['proxies'],
  summary: 'Remove a proxy',
  request: { params: IdParam },
  responses: { 204: { description: 'removed' }, ...errors(404) },
});

export function proxiesRouter({ sql, batchControl }: Pick<RouterDeps, 'sql' | 'batchControl'>) {
  return createRouter()
    .openapi(create, async (c) => {
      const { url, username, password } = c.req.valid('json');
      const proxy = await createProxy(sql, { url, username, password });
      await batchControl.announcePoolChange();
      return c.json(toApiProxy(proxy), 201);
    })
    .openapi(list, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      return c.json(apiPage(toApiProxies(await listProxies(sql, { limit, cursor: textCursor.toKey(cursor) })), textCursor), 200);
    })
    .openapi(get, async (c) => c.json(toApiProxy(await getProxy(sql, c.req.valid('param').id)), 200))
    .openapi(update, async (c) => {
      const row = await setProxyStatus(sql, c.req.valid('param').id, c.req.valid('json').status);
      if (row.status === 'active') await batchControl.announcePoolChange();
      return c.json(toApiProxy(row), 200);
    })
    .openapi(remove, async (c) => {
      await deleteProxy(sql, c.req.valid('param').id);
      return c.body(null, 204);
    });
}
