/**
 * Fault: the worker process sending a webhook is killed with SIGKILL while the receiver holds the request
 * open. Another worker takes the delivery over once the attempt's timeout passes: the receiver gets the event
 * at least once (here twice, with the same webhook-id, both signed), and the delivery ends `delivered`, the
 * killed attempt showing as begun with no outcome. The worker that finished stops gracefully on SIGTERM.
 *
 * Real worker processes (`src/worker/main.ts`, each with its dispatcher), a Temporal dev server, Postgres, and
 * a real HTTP receiver verifying with the `standardwebhooks` package. Small timeouts through the environment.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { killAllChildren, killHard, startWorkerProcess } from '../helpers/processes.js';
import { createLocalEnv, uniqueIds } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver.js';
import { deliveryRow, insertStoryPosted, insertWebhook } from '../helpers/webhooks.js';
import { deliveryAttempts } from '../../src/repos/webhook-deliveries.js';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let receiver: Receiver;
let secret = '';
/** Opens the receiver's first request, held until then (or until its connection goes). */
let releaseFirst: () => void = () => {};
const { taskQueue } = uniqueIds('webhook-sigkill');

beforeAll(async () => {
  env = await createLocalEnv();
  db = await createTestDatabase();
  const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
  receiver = await startReceiver({
    secrets: () => [secret],
    answer: async (req) => {
      if (req.index === 0) await firstHeld;
      return req.verifiedWith.length > 0 ? { status: 200, body: 'ok' } : { status: 401 };
    },
  });
});

afterAll(async () => {
  releaseFirst();
  await killAllChildren();
  await receiver?.close();
  await db?.drop();
  await env?.teardown();
});

/** What every worker process of this file runs against. */
const workerEnv = () => ({
  DATABASE_URL: db.url,
  TEMPORAL_ADDRESS: env.address,
  TEMPORAL_TASK_QUEUE: taskQueue,
  WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
  // an attempt is given up 10 s after its request's timeout: the killed one is retried that soon
  WEBHOOK_TIMEOUT_MS: '4000',
  WEBHOOK_RETRY_INITIAL_MS: '200',
  WEBHOOK_RETRY_MAX_INTERVAL_MS: '1000',
  WEBHOOK_DISPATCH_INTERVAL_MS: '500',
});

it('a delivery whose worker is killed mid-request reaches the receiver at least once and ends delivered', async () => {
  const first = await startWorkerProcess(workerEnv());
  const webhook = await insertWebhook(db.sql, `${receiver.url}/in`, ['story.posted']);
  secret = webhook.secret;
  const event = await insertStoryPosted(db.sql);
  const deliveryId = event.deliveries[0]!.id;

  // the request is out and held open by the receiver: the kill lands mid-send
  await waitFor(async () => receiver.requests.length === 1, { what: 'the first request received', timeoutMs: 60_000 });
  await killHard(first.child);
  expect(await deliveryRow(db.sql, deliveryId)).toMatchObject({ status: 'pending', attempts: 1 });
  expect(await deliveryAttempts(db.sql, deliveryId)).toMatchObject([{ attempt: 1, status_code: null, error: null, duration_ms: null }]);

  const second = await startWorkerProcess(workerEnv());
  const row = await waitFor(
    async () => {
      const r = await deliveryRow(db.sql, deliveryId);
      return r?.status === 'delivered' ? r : null;
    },
    { what: () => `delivery delivered; second worker said: ${second.output().slice(-2000)}`, timeoutMs: 90_000 },
  );

  const requests = receiver.requestsOf(row.message_id);
  expect(requests.length).toBeGreaterThanOrEqual(1);
  expect(requests.every((r) => r.verifiedWith.length === 1 && r.body === requests[0]!.body)).toBe(true);
  expect(JSON.parse(requests[0]!.body)).toMatchObject({ type: 'story.posted', data: { item_pk: event.itemPk, seq: event.seq } });
  const attempts = await deliveryAttempts(db.sql, deliveryId);
  // the killed attempt has no outcome; the one that delivered is recorded with its answer
  expect(attempts[0]).toMatchObject({ attempt: 1, status_code: null });
  expect(attempts.at(-1)).toMatchObject({ status_code: 200, response_snippet: 'ok' });
  expect(row.attempts).toBe(attempts.at(-1)!.attempt);

  // its dispatcher stops with it: a graceful stop still exits cleanly
  const exited = new Promise<number | null>((resolve) => second.child.once('exit', (code) => resolve(code)));
  second.child.kill('SIGTERM');
  expect(await exited).toBe(0);
}, 180_000);
