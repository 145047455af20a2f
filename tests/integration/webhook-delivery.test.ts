/**
 * Webhook deliveries end to end on the real clock: an outbox row made the real way (a story event whose trigger
 * writes it, or a ping), the dispatcher of a worker starting its workflow, the product's activities sending
 * over HTTP to a real receiver that verifies every request with the `standardwebhooks` package, and the
 * attempts and outcomes read back from Postgres. A Temporal dev server, real Postgres (a database per test).
 */
import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { createWebhookDeliveryActivities } from '../../activities/webhook-delivery.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logging/logger.js';
import { workerRegistry } from '../../src/metrics/worker.js';
import { startWebhookDispatcher } from '../../src/worker/webhook-dispatcher.js';
import { isNonPublicAddress } from '../../src/webhooks/target-url.js';
import { generateWebhookSecret } from '../../src/webhooks/secret.js';
import { webhookDeliveryWorkflowId } from '../../workflows/webhook-delivery.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { startReceiver, verifiesWith, type Answerer, type Receiver } from '../helpers/webhook-receiver.js';
import { deliveryRow, endpointRow, insertPing, insertSecret, insertStoryPosted, insertWebhook } from '../helpers/webhooks.js';
import { deliveryAttempts } from '../../src/repos/webhook-deliveries.js';
import { localServer, withWorker } from '../helpers/workflow.js';

const server = localServer();
const logger = createLogger({ test: 'webhook-delivery' });

interface Rig {
  db: TestDatabase;
  config: Config;
}

/**
 * Runs `fn` with a database of its own and a worker (the webhook activities, the product's workflows) whose
 * dispatcher starts a workflow for every outbox row: small retry waits, loopback allowed unless `env` says.
 */
async function withDeliveries<T>(env: Record<string, string>, fn: (rig: Rig) => Promise<T>): Promise<T> {
  const db = await createTestDatabase();
  try {
    const config = loadConfig({
      DATABASE_URL: db.url,
      WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
      WEBHOOK_RETRY_INITIAL_MS: '100',
      WEBHOOK_RETRY_MAX_INTERVAL_MS: '200',
      WEBHOOK_TIMEOUT_MS: '3000',
      WEBHOOK_DISPATCH_INTERVAL_MS: '500',
      LOG_LEVEL: 'silent',
      ...env,
    });
    const activities = createWebhookDeliveryActivities({ sql: db.sql, config, logger });
    return await withWorker(server.env, { activities, bundle: server.bundle, prefix: 'webhook' }, async (taskQueue) => {
      const dispatcher = startWebhookDispatcher({ sql: db.sql, temporal: server.env.client, taskQueue, config, logger });
      try {
        return await fn({ db, config });
      } finally {
        await dispatcher.stop();
      }
    });
  } finally {
    await db.drop();
  }
}

/** A receiver for the test's body, closed after it. */
async function withReceiver<T>(options: { secrets: () => readonly string[]; answer?: Answerer }, fn: (receiver: Receiver) => Promise<T>): Promise<T> {
  const receiver = await startReceiver(options);
  try {
    return await fn(receiver);
  } finally {
    await receiver.close();
  }
}

async function settled(rig: Rig, deliveryId: string, status: string) {
  return waitFor(async () => {
    const row = await deliveryRow(rig.db.sql, deliveryId);
    return row?.status === status ? row : null;
  }, { what: `delivery ${status}`, timeoutMs: 60_000 });
}

async function counted(result: string): Promise<number> {
  const metric = await workerRegistry.getSingleMetric('storycheck_webhook_deliveries_total')!.get();
  return metric.values.find((v) => v.labels.result === result)?.value ?? 0;
}

describe('webhook delivery (dev server, real receiver)', () => {
  it('answers 500 three times then 200: 4 attempts with one webhook-id, each verified, and the delivery delivered', async () => {
    const failedBefore = await counted('failed_attempt');
    const deliveredBefore = await counted('delivered');
    await withDeliveries({}, async (rig) => {
      let secret = '';
      const answer: Answerer = (req) => (req.index < 3 ? { status: 500, body: 'not now' } : { status: 200, body: 'thanks' });
      await withReceiver({ secrets: () => [secret], answer }, async (receiver) => {
        const webhook = await insertWebhook(rig.db.sql, `${receiver.url}/in`, ['story.posted']);
        secret = webhook.secret;
        const event = await insertStoryPosted(rig.db.sql);
        const deliveryId = event.deliveries[0]!.id;
        const row = await settled(rig, deliveryId, 'delivered');

        const requests = receiver.requestsOf(row.message_id);
        expect(requests).toHaveLength(4);
        expect(receiver.requests).toHaveLength(4);
        expect(new Set(requests.map((r) => r.body)).size).toBe(1);
        for (const r of requests) {
          expect(r.verifiedWith).toEqual([secret]);
          expect(r.headers['content-type']).toBe('application/json');
          expect(r.headers['user-agent']).toBe('storycheck-webhooks/1');
        }
        expect(JSON.parse(requests[0]!.body)).toMatchObject({
          type: 'story.posted',
          data: { profile_id: event.profileId, item_pk: event.itemPk, seq: event.seq, media_type: 'image' },
        });

        const attempts = await deliveryAttempts(rig.db.sql, deliveryId);
        expect(attempts.map((a) => [a.attempt, a.status_code])).toEqual([[1, 500], [2, 500], [3, 500], [4, 200]]);
        expect(attempts[3]!.response_snippet).toBe('thanks');
        expect(row).toMatchObject({ attempts: 4, last_status_code: 200 });
        expect(row.dispatched_at).not.toBeNull();
        expect(row.finished_at).not.toBeNull();
        // the success cleared the endpoint's failing_since
        expect(await endpointRow(rig.db.sql, webhook.id)).toMatchObject({ enabled: true, failing_since: null });
        expect(await server.env.client.workflow.getHandle(webhookDeliveryWorkflowId(deliveryId)).result()).toBe('delivered');
      });
    });
    expect((await counted('failed_attempt')) - failedBefore).toBeGreaterThanOrEqual(3);
    expect((await counted('delivered')) - deliveredBefore).toBeGreaterThanOrEqual(1);
  });

  it('fails verification for an unsigned request and for one signed with another secret', async () => {
    await withDeliveries({ WEBHOOK_RETRY_MAX_ATTEMPTS: '2' }, async (rig) => {
      const receiverSecret = generateWebhookSecret();
      await withReceiver({ secrets: () => [receiverSecret] }, async (receiver) => {
        const webhook = await insertWebhook(rig.db.sql, `${receiver.url}/in`, ['story.posted']);
        const deliveryId = (await insertStoryPosted(rig.db.sql)).deliveries[0]!.id;
        const row = await settled(rig, deliveryId, 'failed');
        const signed = receiver.requestsOf(row.message_id);
        expect(signed).toHaveLength(2);
        // signed, and correctly, with the endpoint's secret: only not with the one the receiver holds
        for (const r of signed) {
          expect(r.verifiedWith).toEqual([]);
          expect(verifiesWith(webhook.secret, r.body, r.headers)).toBe(true);
        }
        expect((await deliveryAttempts(rig.db.sql, deliveryId)).map((a) => a.status_code)).toEqual([401, 401]);

        // the same request with its signature left off
        const { 'webhook-signature': _signature, ...unsigned } = signed[0]!.headers;
        const res = await fetch(`${receiver.url}/in`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'webhook-id': unsigned['webhook-id']!, 'webhook-timestamp': unsigned['webhook-timestamp']! },
          body: signed[0]!.body,
        });
        expect(res.status).toBe(401);
        expect(receiver.requests.at(-1)!.verifiedWith).toEqual([]);
        expect(verifiesWith(webhook.secret, signed[0]!.body, unsigned)).toBe(false);
      });
    });
  });

  it('signs with both secrets during a rotation, so either verifies the same request; an expired one signs nothing', async () => {
    await withDeliveries({}, async (rig) => {
      const secrets: string[] = [];
      await withReceiver({ secrets: () => secrets }, async (receiver) => {
        const webhook = await insertWebhook(rig.db.sql, `${receiver.url}/in`, ['story.posted']);
        const previous = webhook.secret;
        const current = generateWebhookSecret();
        const expired = generateWebhookSecret();
        // a rotation: the previous secret keeps signing for a day beside the new current one
        await rig.db.sql`update webhook_secrets set expires_at = now() + interval '1 day' where webhook_id = ${webhook.id}`;
        await insertSecret(rig.db.sql, webhook.id, current);
        await insertSecret(rig.db.sql, webhook.id, expired, new Date(Date.now() - 60_000));
        secrets.push(previous, current, expired);

        const deliveryId = await insertPing(rig.db.sql, webhook.id);
        const row = await settled(rig, deliveryId, 'delivered');
        const [request] = receiver.requestsOf(row.message_id);
        expect(request!.verifiedWith.sort()).toEqual([previous, current].sort());
        const signatures = request!.headers['webhook-signature']!.split(' ');
        expect(signatures).toHaveLength(2);
        // the current secret's signature comes first
        expect(verifiesWith(current, request!.body, { ...request!.headers, 'webhook-signature': signatures[0]! })).toBe(true);
        expect(JSON.parse(request!.body)).toMatchObject({ type: 'ping', data: { webhook_id: webhook.id, message: 'ping' } });
        expect(JSON.parse(request!.body).data).not.toHaveProperty('seq');
      });
    });
  });

  it('refuses a target that is or resolves to loopback without WEBHOOK_ALLOW_HOSTS, recording why, and sends nothing', async () => {
    // this machine's own name resolves to one of its own addresses: loopback or private, never public
    const ownName = hostname().toLowerCase();
    const own = await lookup(ownName).catch(() => null);
    const nameResolvesInward = own !== null && isNonPublicAddress(own.address);
    await withDeliveries({ WEBHOOK_ALLOW_HOSTS: '', WEBHOOK_RETRY_MAX_ATTEMPTS: '1' }, async (rig) => {
      await withReceiver({ secrets: () => [] }, async (receiver) => {
        const literal = await insertWebhook(rig.db.sql, `https://127.0.0.1:${receiver.port}/in`, ['story.posted']);
        const named = nameResolvesInward ? await insertWebhook(rig.db.sql, `https://${ownName}:${receiver.port}/in`, ['story.posted']) : null;
        const { deliveries } = await insertStoryPosted(rig.db.sql);
        const idOf = (webhookId: string) => deliveries.find((d) => d.webhook_id === webhookId)!.id;

        await settled(rig, idOf(literal.id), 'failed');
        const [byLiteral] = await deliveryAttempts(rig.db.sql, idOf(literal.id));
        expect(byLiteral).toMatchObject({ attempt: 1, status_code: null });
        expect(byLiteral!.error).toMatch(/^refused: the URL must not name a private, loopback or link-local address/);
        if (named) {
          await settled(rig, idOf(named.id), 'failed');
          const [byName] = await deliveryAttempts(rig.db.sql, idOf(named.id));
          expect(byName).toMatchObject({ attempt: 1, status_code: null });
          expect(byName!.error).toMatch(/^refused: webhook host .* resolves to a non-public address/);
        }
        expect(receiver.requests).toHaveLength(0);
      });
    });
  });

  it('takes a 3xx answer as a failed attempt and does not follow its Location', async () => {
    await withDeliveries({}, async (rig) => {
      let moved = 0;
      const answer: Answerer = (req) => {
        if (req.path === '/landing') return { status: 200, body: 'landed' };
        return moved++ === 0 ? { status: 302, headers: { location: '/landing' }, body: 'see /landing' } : { status: 204 };
      };
      await withReceiver({ secrets: () => [], answer }, async (receiver) => {
        const webhook = await insertWebhook(rig.db.sql, `${receiver.url}/moved`, ['story.posted']);
        const deliveryId = await insertPing(rig.db.sql, webhook.id);
        await settled(rig, deliveryId, 'delivered');
        expect(receiver.requests.map((r) => r.path)).toEqual(['/moved', '/moved']);
        const attempts = await deliveryAttempts(rig.db.sql, deliveryId);
        expect(attempts.map((a) => [a.status_code, a.response_snippet])).toEqual([[302, 'see /landing'], [204, '']]);
      });
    });
  });

  it('cancels a delivery waiting to retry once its endpoint is disabled, and sends nothing more', async () => {
    await withDeliveries({}, async (rig) => {
      let webhookId = '';
      // an operator disables the endpoint while its first attempt is under way
      const answer: Answerer = async () => {
        await rig.db.sql`update webhooks set enabled = false, disabled_reason = 'operator', disabled_at = now() where id = ${webhookId}`;
        return { status: 503 };
      };
      await withReceiver({ secrets: () => [], answer }, async (receiver) => {
        const webhook = await insertWebhook(rig.db.sql, `${receiver.url}/in`, ['story.posted']);
        webhookId = webhook.id;
        const deliveryId = await insertPing(rig.db.sql, webhook.id);
        const row = await settled(rig, deliveryId, 'cancelled');
        expect(await server.env.client.workflow.getHandle(webhookDeliveryWorkflowId(deliveryId)).result()).toBe('cancelled');
        expect(receiver.requests).toHaveLength(1);
        expect(row).toMatchObject({ attempts: 1, last_status_code: 503 });
        expect(await endpointRow(rig.db.sql, webhook.id)).toMatchObject({ enabled: false, disabled_reason: 'operator' });
      });
    });
  });
});
