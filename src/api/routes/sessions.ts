/** Sessions: POST/GET /sessions, GET/DELETE /sessions/:id. The token is accepted, never returned. */
import { createRoute } from '@hono/zod-openapi';
import { createSession, deleteSession, getSession, listSessions, toApiSession } from '../../repos/sessions.js';
import { bodyErrors, createRouter, errors, json, type RouterDeps } from '../router.js';
import { apiPage, idCursor } from '../cursors.js';
import { CreateSession, IdParam, Session, SessionPage, SessionQuery } from '../schemas.js';

const create = createRoute({
  method: 'post',
  path: '/sessions',
  tags: ['sessions'],
  summary: 'Store an upstream session (its token is write-only), optionally paired with a proxy',
  request: { body: { required: true, content: { 'application/json': { schema: CreateSession } } } },
  responses: { 201: json(Session, 'created (without the token)'), ...bodyErrors(409) },
});

const list = createRoute({
  method: 'get',
  path: '/sessions',
  tags: ['sessions'],
  summary: 'List sessions',
  request: { query: SessionQuery },
  responses: { 200: json(SessionPage, 'a page of sessions'), ...errors(400) },
});

const get = createRoute({
  method: 'get',
  path: '/sessions/{id}',
  tags: ['sessions'],
  summary: 'One session',
  request: { params: IdParam },
  responses: { 200: json(Session, 'the session'), ...errors(404) },
});

const remove = createRoute({
  method: 'delete',
  path: '/sessions/{id}',
  tags: ['sessions'],
  summary: 'Remove a session',
  request: { params: IdParam },
  responses: { 204: { description: 'removed' }, ...errors(404) },
});

export function sessionsRouter({ sql }: Pick<RouterDeps, 'sql'>) {
  return createRouter()
    .openapi(create, async (c) => {
      const { token, proxy_id } = c.req.valid('json');
      return c.json(toApiSession(await createSession(sql, { token, proxyId: proxy_id ?? null })), 201);
    })
    .openapi(list, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      return c.json(apiPage(await listSessions(sql, { limit, cursor: idCursor.toKey(cursor) }), idCursor), 200);
    })
    .openapi(get, async (c) => c.json(toApiSession(await getSession(sql, c.req.valid('param').id)), 200))
    .openapi(remove, async (c) => {
      await deleteSession(sql, c.req.valid('param').id);
      return c.body(null, 204);
    });
}
