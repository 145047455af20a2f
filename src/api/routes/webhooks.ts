/**
 * Webhooks: endpoints (POST/GET /webhooks, GET/PATCH/DELETE /webhooks/:id), a test ping, secret rotation, and
 * each endpoint's deliveries with a redelivery. None of them needs Temporal: a delivery is a row, which a
 * worker's dispatcher picks up (woken by the row's NOTIFY). The signing secret appears in the answers of
 * creation and rotation alone.
 */
import { deleteWebhook, createWebhook, getWebhook, listWebhooks, rotateWebhookSecret, updateWebhook } from '../../repos/webhooks.js';
import { getDelivery, insertPing, listDeliveries, redeliver } from '../../repos/webhook-deliveries.js';
import { apiPage, batchCursor } from '../cursors.js';
import { presentPage } from '../present.js';
import { bodyErrors, createRoute, createRouter, errors, json, type RouterDeps } from '../router.js';
import { IdParam } from '../schemas.js';
import { toApiDelivery, toApiDeliveryDetail, toApiWebhook, toApiWebhookWithSecret } from '../webhook-present.js';
import {
  CreateWebhook,
  Delivery,
  DeliveryDetail,
  DeliveryPage,
  DeliveryParams,
  DeliveryQuery,
  UpdateWebhook,
  Webhook,
  WebhookPage,
  WebhookQuery,
  WebhookWithSecret,
} from '../webhook-schemas.js';

const tags = ['webhooks'];

const create = createRoute({
  method: 'post',
  path: '/webhooks',
  tags,
  summary: 'Register an endpoint for events; the answer holds its signing secret, shown this once',
  description: 'A URL outside the rules, an unknown event, no event, a repeated event or an unknown niche: 400.',
  request: { body: { required: true, content: { 'application/json': { schema: CreateWebhook } } } },
  responses: { 201: json(WebhookWithSecret, 'created, with its secret'), ...bodyErrors() },
});

const list = createRoute({
  method: 'get',
  path: '/webhooks',
  tags,
  summary: 'List endpoints, newest first',
  request: { query: WebhookQuery },
  responses: { 200: json(WebhookPage, 'a page of endpoints'), ...errors(400) },
});

const get = createRoute({
  method: 'get',
  path: '/webhooks/{id}',
  tags,
  summary: 'One endpoint (without its secret)',
  request: { params: IdParam },
  responses: { 200: json(Webhook, 'the endpoint'), ...errors(404) },
});

const update = createRoute({
  method: 'patch',
  path: '/webhooks/{id}',
  tags,
  summary: 'Change an endpoint, or enable or disable it',
  description: 'Enabling clears disabled_reason and failing_since; disabling sets disabled_reason operator.',
  request: { params: IdParam, body: { required: true, content: { 'application/json': { schema: UpdateWebhook } } } },
  responses: { 200: json(Webhook, 'the endpoint after the change'), ...bodyErrors(404) },
});

const remove = createRoute({
  method: 'delete',
  path: '/webhooks/{id}',
  tags,
  summary: 'Remove an endpoint, its secrets and its deliveries (deliveries under way stop)',
  request: { params: IdParam },
  responses: { 204: { description: 'removed' }, ...errors(404) },
});

const test = createRoute({
  method: 'post',
  path: '/webhooks/{id}/test',
  tags,
  summary: 'Send a ping to the endpoint (a delivery like any other, event type ping)',
  description: '409 webhook_disabled when the endpoint is disabled.',
  request: { params: IdParam },
  responses: { 202: json(Delivery, 'accepted: the pending ping delivery'), ...errors(404, 409) },
});

const rotate = createRoute({
  method: 'post',
  path: '/webhooks/{id}/rotate-secret',
  tags,
  summary: 'A new signing secret (shown this once); the old one keeps signing beside it for WEBHOOK_SECRET_OVERLAP_MS',
  request: { params: IdParam },
  responses: { 200: json(WebhookWithSecret, 'the endpoint, with its new secret'), ...errors(404) },
});

const deliveries = createRoute({
  method: 'get',
  path: '/webhooks/{id}/deliveries',
  tags,
  summary: "The endpoint's deliveries, newest first",
  request: { params: IdParam, query: DeliveryQuery },
  responses: { 200: json(DeliveryPage, 'a page of deliveries'), ...errors(400, 404) },
});

const delivery = createRoute({
  method: 'get',
  path: '/webhooks/{id}/deliveries/{did}',
  tags,
  summary: 'One delivery with its attempts',
  request: { params: DeliveryParams },
  responses: { 200: json(DeliveryDetail, 'the delivery and every attempt of it'), ...errors(404) },
});

const resend = createRoute({
  method: 'post',
  path: '/webhooks/{id}/deliveries/{did}/redeliver',
  tags,
  summary: 'Deliver again: a new delivery with the same message id (webhook-id) and body',
  description: '409 webhook_disabled when the endpoint is disabled.',
  request: { params: DeliveryParams },
  responses: { 202: json(Delivery, 'accepted: the new pending delivery'), ...errors(404, 409) },
});

export function webhooksRouter({ sql, config }: Pick<RouterDeps, 'sql' | 'config'>) {
  const rules = { allowHosts: config.WEBHOOK_ALLOW_HOSTS };
  return createRouter()
    .openapi(create, async (c) => {
      const { url, events, niche_id, description } = c.req.valid('json');
      const created = await createWebhook(sql, { url, events, nicheId: niche_id, description }, rules);
      return c.json(toApiWebhookWithSecret(created), 201);
    })
    .openapi(list, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const page = await listWebhooks(sql, { limit, cursor: batchCursor.toKey(cursor) });
      return c.json(apiPage(presentPage(page, toApiWebhook), batchCursor), 200);
    })
    .openapi(get, async (c) => c.json(toApiWebhook(await getWebhook(sql, c.req.valid('param').id)), 200))
    .openapi(update, async (c) => {
      const { url, events, niche_id, description, enabled } = c.req.valid('json');
      const row = await updateWebhook(sql, c.req.valid('param').id, { url, events, nicheId: niche_id, description, enabled }, rules);
      return c.json(toApiWebhook(row), 200);
    })
    .openapi(remove, async (c) => {
      await deleteWebhook(sql, c.req.valid('param').id);
      return c.body(null, 204);
    })
    .openapi(test, async (c) => c.json(toApiDelivery(await insertPing(sql, c.req.valid('param').id)), 202))
    .openapi(rotate, async (c) => {
      const rotated = await rotateWebhookSecret(sql, c.req.valid('param').id, config.WEBHOOK_SECRET_OVERLAP_MS);
      return c.json(toApiWebhookWithSecret(rotated), 200);
    })
    .openapi(deliveries, async (c) => {
      const { limit, cursor, status } = c.req.valid('query');
      const page = await listDeliveries(sql, c.req.valid('param').id, { limit, cursor: batchCursor.toKey(cursor), status });
      return c.json(apiPage(presentPage(page, toApiDelivery), batchCursor), 200);
    })
    .openapi(delivery, async (c) => {
      const { id, did } = c.req.valid('param');
      return c.json(toApiDeliveryDetail(await getDelivery(sql, id, did)), 200);
    })
    .openapi(resend, async (c) => {
      const { id, did } = c.req.valid('param');
      return c.json(toApiDelivery(await redeliver(sql, id, did)), 202);
    });
}
