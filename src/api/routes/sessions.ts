/**
 * Sessions: POST/GET /sessions, GET/DELETE /sessions/:id, POST /sessions/:id/validate. The token is accepted,
 * never returned. A session added, or found valid again, is announced to the running batch once committed
 * (batch-control.ts): chunks waiting for a valid session are sent again at once.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { validateSessionWorkflow } from '../../../workflows/proxy-health.js';
import { createSession, deleteSession, getSession, listSessions } from '../../repos/sessions.js';
import { UnavailableError } from '../errors.js';
import { bodyErrors, createRoute, createRouter, errors, json, type RouterDeps } from '../router.js';
import { apiPage, idCursor } from '../cursors.js';
import { presentPage, toApiSession } from '../present.js';
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

const validate = createRoute({
  method: 'post',
  path: '/sessions/{id}/validate',
  tags: ['sessions'],
  summary: 'Ask the story source once with this session (through a proxy of the pool): valid again, or invalid',
  description:
    'The probe runs on a worker. A session the source accepts is valid (SESSION_RECOVERED when it was invalid); one it ' +
    'refuses is invalid. When no proxy is free or the answer says nothing about the session, the status stays as it was.',
  request: { params: IdParam },
  responses: { 200: json(Session, 'the session after the probe'), ...errors(404) },
});

/** Bound on the on-demand probe (one request through one proxy, plus a worker picking it up): a client waits no longer. */
const VALIDATE_DEADLINE_MS = 8_000;

export function sessionsRouter({
  sql,
  temporal,
  config,
  temporalGate,
  batchControl,
}: Pick<RouterDeps, 'sql' | 'temporal' | 'config' | 'temporalGate' | 'batchControl'>) {
  return createRouter()
    .openapi(create, async (c) => {
      const { token, proxy_id } = c.req.valid('json');
      const session = await createSession(sql, { token, proxyId: proxy_id ?? null });
      await batchControl.announcePoolChange();
      return c.json(toApiSession(session), 201);
    })
    .openapi(list, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      return c.json(apiPage(presentPage(await listSessions(sql, { limit, cursor: idCursor.toKey(cursor) }), toApiSession), idCursor), 200);
    })
    .openapi(get, async (c) => c.json(toApiSession(await getSession(sql, c.req.valid('param').id)), 200))
    .openapi(validate, async (c) => {
      const { id } = c.req.valid('param');
      const before = await getSession(sql, id); // 404 before anything runs
      await temporalGate.require();
      try {
        await temporal.workflow.execute(validateSessionWorkflow, {
          taskQueue: config.TEMPORAL_TASK_QUEUE,
          workflowId: `session-validate-${id}-${randomUUID().slice(0, 8)}`,
          args: [id],
          workflowExecutionTimeout: VALIDATE_DEADLINE_MS,
        });
      } catch (err) {
        // the probe runs on a worker: none picked it up in time (or it kept failing)
        if (err instanceof WorkflowFailedError) throw new UnavailableError('worker', 'no worker could probe the session in time; try again shortly');
        throw err;
      }
      const after = await getSession(sql, id);
      if (before.status !== 'valid' && after.status === 'valid') await batchControl.announcePoolChange();
      return c.json(toApiSession(after), 200);
    })
    .openapi(remove, async (c) => {
      await deleteSession(sql, c.req.valid('param').id);
      return c.body(null, 204);
    });
}
