/**
 * The delivery workflow's retry schedule, on Temporal's time-skipping server: the product's workflow and
 * activities, real Postgres, and a real HTTP receiver. With the default settings an endpoint that always
 * answers 500 gets 18 attempts spread over about 3 days (the waits double from 1 minute up to 8 hours), the
 * delivery ends failed, and the endpoint, failing for longer than WEBHOOK_DISABLE_AFTER_MS (3 days) by the last
 * attempt, is disabled. An endpoint that answers 410 gets one attempt and is disabled at once. A delivery whose
 * workflow an operator cancels between attempts ends `cancelled`.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookDeliveryActivities } from '../../activities/webhook-delivery.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger, setLogLevel } from '../../src/logging/logger.js';
import { webhookDeliveryInput } from '../../src/worker/webhook-dispatcher.js';
import { webhookDeliveryWorkflow, webhookDeliveryWorkflowId } from '../../workflows/webhook-delivery.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startReceiver, type Answer, type Receiver } from '../helpers/webhook-receiver.js';
import { deliveryRow, endpointRow, insertStoryPosted, insertWebhook } from '../helpers/webhooks.js';
import { deliveryAttempts } from '../../src/repos/webhook-deliveries.js';
import { waitFor } from '../helpers/wait.js';
import { timeSkippingServer, withWorker } from '../helpers/workflow.js';

const server = timeSkippingServer();
const HOUR_MS = 3_600_000;

let db: TestDatabase;
let config: Config;
let receiver: Receiver;
/** What the receiver answers, per path (one endpoint per test). */
const answers = new Map<string, Answer>();
/** When each request arrived, on the server's (skipped) clock, per path. */
const arrivals = new Map<string, number[]>();

beforeAll(async () => {
  // the disabling WARN lines are expected here
  setLogLevel('silent');
  db = await createTestDatabase();
  // the defaults of every WEBHOOK_* setting but the hosts: the schedule under test is the product's own
  config = loadConfig({ DATABASE_URL: db.url, WEBHOOK_ALLOW_HOSTS: '127.0.0.1', LOG_LEVEL: 'silent' });
  receiver = await startReceiver({
    secrets: () => [],
    answer: async (req) => {
      const times = arrivals.get(req.path) ?? [];
      times.push(await server.env.currentTimeMs());
      arrivals.set(req.path, times);
      return answers.get(req.path) ?? { status: 404 };
    },
  });
});

afterAll(async () => {
  await receiver?.close();
  await db?.drop();
});

/**
 * A story.posted delivery to a fresh endpoint at `path`, run by its workflow to the end; its outcome. `during`
 * may act on the running workflow first.
 */
async function deliverTo(path: string, answer: Answer, during?: (handle: WorkflowHandle<typeof webhookDeliveryWorkflow>, deliveryId: string) => Promise<void>) {
  answers.set(path, answer);
  const webhook = await insertWebhook(db.sql, `${receiver.url}${path}`, ['story.posted']);
  const { deliveries } = await insertStoryPosted(db.sql);
  const mine = deliveries.filter((d) => d.webhook_id === webhook.id);
  expect(mine).toHaveLength(1);
  const deliveryId = mine[0]!.id;
  // attempts are timed on the server's clock, which skips ahead over the waits
  const clock = async () => new Date(await server.env.currentTimeMs());
  const activities = createWebhookDeliveryActivities({ sql: db.sql, config, logger: createLogger({ test: 'webhook-delivery' }), clock });
  const outcome = await withWorker(server.env, { activities, bundle: server.bundle, prefix: 'webhook' }, async (taskQueue) => {
    const handle = await server.env.client.workflow.start(webhookDeliveryWorkflow, {
      taskQueue,
      workflowId: webhookDeliveryWorkflowId(deliveryId),
      args: [webhookDeliveryInput(config, deliveryId)],
    });
    await during?.(handle, deliveryId);
    // waiting for the result lets the server skip over the waits between attempts
    return handle.result().catch((err: unknown) => err);
  });
  return { outcome, webhook, deliveryId };
}

describe('webhookDeliveryWorkflow (time-skipping, real receiver and Postgres)', () => {
  it('retries an endpoint that always answers 500 for about 3 days, 18 attempts, then fails it and disables the endpoint', async () => {
    const { outcome, webhook, deliveryId } = await deliverTo('/always-500', { status: 500, body: 'down' });
    expect(outcome).toBe('failed');

    const times = arrivals.get('/always-500')!;
    expect(times).toHaveLength(config.WEBHOOK_RETRY_MAX_ATTEMPTS);
    expect(times).toHaveLength(18);
    // 1, 2, 4 ... 256 minutes, then 8 hours eight times: 72.5 hours from the first attempt to the last
    const spanH = (times.at(-1)! - times[0]!) / HOUR_MS;
    expect(spanH).toBeGreaterThan(72);
    expect(spanH).toBeLessThan(73);
    // each wait at least doubles until it reaches the 8-hour cap
    const waits = times.slice(1).map((t, i) => t - times[i]!);
    expect(waits[0]).toBeGreaterThanOrEqual(60_000);
    expect(Math.max(...waits)).toBeLessThan(8 * HOUR_MS + 60_000);

    const attempts = await deliveryAttempts(db.sql, deliveryId);
    expect(attempts.map((a) => a.attempt)).toEqual(Array.from({ length: 18 }, (_, i) => i + 1));
    expect(attempts.every((a) => a.status_code === 500 && a.response_snippet === 'down')).toBe(true);
    const recordedSpanH = (attempts.at(-1)!.started_at.getTime() - attempts[0]!.started_at.getTime()) / HOUR_MS;
    expect(recordedSpanH).toBeGreaterThan(72);
    expect(recordedSpanH).toBeLessThan(73);

    expect(await deliveryRow(db.sql, deliveryId)).toMatchObject({ status: 'failed', attempts: 18, last_status_code: 500 });
    const endpoint = await endpointRow(db.sql, webhook.id);
    expect(endpoint).toMatchObject({ enabled: false, disabled_reason: 'failing' });
    expect(endpoint!.failing_since!.getTime()).toBe(attempts[0]!.started_at.getTime());
  });

  it('stops at a 410: one attempt, the delivery failed, the endpoint disabled as gone', async () => {
    const { outcome, webhook, deliveryId } = await deliverTo('/gone', { status: 410, body: 'gone for good' });
    expect(outcome).toBe('failed');
    expect(arrivals.get('/gone')).toHaveLength(1);
    expect(await deliveryAttempts(db.sql, deliveryId)).toMatchObject([{ attempt: 1, status_code: 410, response_snippet: 'gone for good' }]);
    expect(await deliveryRow(db.sql, deliveryId)).toMatchObject({ status: 'failed', attempts: 1, last_status_code: 410 });
    expect(await endpointRow(db.sql, webhook.id)).toMatchObject({ enabled: false, disabled_reason: 'gone' });
  });

  it('marks the delivery cancelled when its workflow is cancelled between attempts, and sends nothing more', async () => {
    const { outcome, deliveryId } = await deliverTo('/cancelled', { status: 500 }, async (handle, id) => {
      await waitFor(async () => (await deliveryAttempts(db.sql, id)).some((a) => a.status_code === 500), { what: 'first attempt recorded' });
      await handle.cancel();
    });
    expect(outcome).toBeInstanceOf(WorkflowFailedError);
    expect((outcome as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(arrivals.get('/cancelled')).toHaveLength(1);
    expect(await deliveryRow(db.sql, deliveryId)).toMatchObject({ status: 'cancelled', attempts: 1 });
  });
});
