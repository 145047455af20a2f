/**
 * A batch stalled because its only proxy rests for an hour goes on within seconds of a proxy coming back,
 * through the running stack (API on a port, a worker on a Temporal dev server, the simulator, forward
 * proxies): the API announces an added proxy, the health round one it recovered; the queue runner passes the
 * change on to the batch, whose chunk waiting out the hour is sent again at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchWorkflowId } from '../../src/repos/queue.js';
import { proxyHealthWorkflow } from '../../workflows/proxy-health.js';
import { startServedStack, type ServedStack } from '../helpers/served-stack.js';
import { PROXY_PASSWORD, PROXY_USERNAME, usernames } from '../helpers/stack.js';
import { uniqueIds } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

const API_KEY = 'pool-wake-api-key-5c2e8a';
const HOUR_MS = 3_600_000;

let served: ServedStack;

beforeAll(async () => {
  served = await startServedStack({
    prefix: 'pool-wake',
    proxies: 2,
    // a stall shows after a second; once it shows, a chunk waits out the whole rest
    env: { API_KEY, BATCH_STALL_AFTER_MS: '1000' },
  });
});

afterAll(() => served?.close());

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(served.api.url + path, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** The stack's two forward proxies: the first rests for an hour; what becomes of the second is the test's. */
async function restingAndSpare(): Promise<{ resting: string; spare: { id: string; url: string } }> {
  const { sql } = served.stack.db;
  const [resting, spare] = await sql<{ id: string; url: string }[]>`select id, url from proxies order by url`;
  await sql`
    update proxies set status = 'cooling_down', rest_reason = 'rate_limited', rate_limited_until = now() + interval '1 hour'
    where id = ${resting!.id}`;
  return { resting: resting!.id, spare: spare! };
}

/** Creates a batch through the API and waits until it is stalled and its chunk waits out the hour-long rest. */
async function stalledBatch(): Promise<string> {
  const created = await call('POST', '/batches', { name: 'pool wake', usernames: usernames(8, 'wake') });
  expect(created.status).toBe(201);
  const batchId = created.body.id as string;
  await waitFor(async () => (await call('GET', `/batches/${batchId}`)).body.stalled_reason === 'no_usable_proxy', {
    what: 'the batch stalled for want of a proxy',
  });
  const handle = served.env.client.workflow.getHandle(batchWorkflowId(batchId));
  await waitFor(
    async () => {
      const { raw } = await handle.describe();
      // the next attempt, on the server's clock (seconds are enough here)
      return (raw.pendingActivities ?? []).some((a) => Number(a.nextAttemptScheduleTime?.seconds ?? 0) * 1000 - Date.now() > HOUR_MS / 2);
    },
    { what: 'the chunk waiting out the rest' },
  );
  return batchId;
}

/** Wall-clock time until the batch is done. */
async function msUntilDone(batchId: string): Promise<number> {
  const started = Date.now();
  await waitFor(async () => (await call('GET', `/batches/${batchId}`)).body.status === 'done', { timeoutMs: 30_000, what: 'the batch done' });
  return Date.now() - started;
}

describe('a stalled batch and a proxy that comes back', () => {
  it('POST /proxies: the batch goes on within seconds, not at the end of the hour-long rest', async () => {
    const { sql } = served.stack.db;
    const { spare } = await restingAndSpare();
    // the pool has only the resting proxy: the spare one is added back through the API once the batch waits
    await sql`delete from proxies where id = ${spare.id}`;
    const batchId = await stalledBatch();

    const added = call('POST', '/proxies', { url: spare.url, username: PROXY_USERNAME, password: PROXY_PASSWORD });
    expect((await added).status).toBe(201);
    expect(await msUntilDone(batchId)).toBeLessThan(15_000);

    const batch = (await call('GET', `/batches/${batchId}`)).body;
    expect(batch).toMatchObject({ successful_checks: 8, failed_checks: 0, stalled_reason: null });
  });

  it('the health round: a proxy it recovers is used at once by the stalled batch', async () => {
    const { sql } = served.stack.db;
    const { spare } = await restingAndSpare();
    // the spare proxy was disabled by its failures, but it works again: the next round finds that
    await sql`update proxies set status = 'disabled', disabled_reason = 'failures', consecutive_failures = 5 where id = ${spare.id}`;
    const batchId = await stalledBatch();

    const round = await served.env.client.workflow.execute(proxyHealthWorkflow, {
      taskQueue: served.stack.config.TEMPORAL_TASK_QUEUE,
      workflowId: uniqueIds('health-round').workflowId,
    });
    expect(round).toMatchObject({ proxiesRecovered: 1 });
    expect(await msUntilDone(batchId)).toBeLessThan(15_000);
  });
});
