/**
 * End to end: a watch every 10 s over a niche while the simulator's profiles post stories, and a webhook for
 * story.posted to a receiver that verifies every request with the `standardwebhooks` package. In the middle,
 * the Temporal dev server is killed with SIGKILL (while a watch batch runs) and started again on its SQLite file.
 *
 * What it proves, over every item first seen by a watch batch created after the webhook:
 * - each one reaches the receiver as a verified `story.posted` naming it (profile_id, item_pk);
 * - within one interval plus its batch's time (plus a small margin for the tick to start and the delivery to
 *   be sent) of its posting (the item's taken_at, from the simulator's clock); the items whose way overlaps the
 *   outage (from the kill until the first batch after the restart has run) are held to arriving at all, and the
 *   longest of their latencies is printed;
 * - no item is announced twice: one outbox row per item, and one `webhook-id` per item at the receiver (a
 *   retry of the same delivery may arrive again under the same id, which receivers deduplicate; it is counted);
 * - the same worker process carries on after the restart, and the Schedule keeps ticking.
 *
 * Real parts: the `temporal server start-dev` CLI on a SQLite file, a worker process (src/worker/main.ts), the API
 * in this process, Postgres, the upstream simulator, forward proxies, the receiver over HTTP.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApi, type RunningApi } from '../../src/api/server.js';
import { findTemporalBinaries } from '../../src/local/temporal-binaries.js';
import { signalGroup, startDevTemporalServer, type DevTemporalServer } from '../../src/local/temporal-server.js';
import { freePort } from '../../src/local/ports.js';
import { createLogger } from '../../src/logging/logger.js';
import { searchAttributeKeys } from '../../workflows/search-attributes.js';
import { cleanUpOnExit } from '../helpers/last-resort.js';
import { killAllChildren, startWorkerProcess, type WorkerProcess } from '../helpers/processes.js';
import { startStack, usernames, type Stack } from '../helpers/stack.js';
import { quietTemporalRuntime, uniqueIds } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from '../helpers/recording-webhook-receiver.js';

const PROFILES = 30;
const EVERY_S = 10;
/**
 * The simulator's stories: every profile posts (1 to 3 lanes), each lane every 30 s, each item living 40 s. About
 * 20 new items per tick, and items end too (story.ended, which this webhook does not ask for).
 */
const SIM_STORIES = { storyRate: 1, expiredRate: 0, privateRate: 0, storyPostEveryS: 30, storyTtlS: 40, latencyMs: 20 };
/** The tick's start (a workflow and its activity), the chunk's commit and the delivery's dispatch and send. */
const DELIVERY_MARGIN_MS = 5_000;
/** How long the server stays dead: long enough for ticks, polls and deliveries to fail on it. */
const DOWN_MS = 3_000;
/** Watch batches done before the kill, and after the restart, each created after the webhook. */
const BATCHES_BEFORE = 2;
const BATCHES_AFTER = 3;

const dataDir = mkdtempSync(join(tmpdir(), 'storycheck-watch-'));
cleanUpOnExit(() => {
  if (server) signalGroup(server.pid, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});
const logger = createLogger({ test: 'watch-webhooks' });
const { taskQueue } = uniqueIds('watchhooks');
let server: DevTemporalServer | undefined;
let client: Client;
let stack: Stack;
let api: RunningApi;
let receiver: WebhookReceiver;
let worker: WorkerProcess;
let ports: { port: number; uiPort: number };

async function startServer(): Promise<DevTemporalServer> {
  const { cli } = findTemporalBinaries();
  if (!cli) throw new Error('the temporal CLI is missing (npm run temporal:install)');
  return startDevTemporalServer({ cli, dataDir, host: '127.0.0.1', ...ports, namespace: 'default', searchAttributes: searchAttributeKeys, logger });
}

/** Deliveries come fast and their retries too: a delivery that failed on the dead server is tried again within seconds. */
const WEBHOOK_ENV = {
  WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
  WEBHOOK_DISPATCH_INTERVAL_MS: '500',
  WEBHOOK_RETRY_INITIAL_MS: '1000',
  WEBHOOK_RETRY_MAX_INTERVAL_MS: '2000',
  WEBHOOK_TIMEOUT_MS: '5000',
};

beforeAll(async () => {
  quietTemporalRuntime();
  ports = { port: await freePort(), uiPort: await freePort() };
  server = await startServer();
  client = new Client({ connection: server.connection, namespace: 'default' });
  stack = await startStack({ proxies: 2, sim: SIM_STORIES, env: { TEMPORAL_TASK_QUEUE: taskQueue, TEMPORAL_SEARCH_ATTRIBUTES: 'true', ...WEBHOOK_ENV } });
  worker = await startWorkerProcess({
    DATABASE_URL: stack.db.url,
    TEMPORAL_ADDRESS: `127.0.0.1:${ports.port}`,
    TEMPORAL_TASK_QUEUE: taskQueue,
    STORY_API_BASE_URL: stack.sim.url,
    ...WEBHOOK_ENV,
  });
  api = await startApi({ config: stack.config, sql: stack.db.sql, temporal: client, port: 0, logger });
  receiver = await startWebhookReceiver();
});

afterAll(async () => {
  await api?.close();
  await killAllChildren();
  await receiver?.close();
  await stack?.close();
  await client?.connection.close().catch(() => {});
  await server?.stop(5_000);
  rmSync(dataDir, { recursive: true, force: true });
});

// API bodies are whatever the server returns; each step asserts the fields it relies on
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function call(method: string, path: string, body?: unknown): Promise<Json> {
  const res = await fetch(api.url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** The watch's batches created after `since` that ended done. */
async function doneBatchesSince(watchId: string, since: Date): Promise<number> {
  const [row] = await stack.db.sql<{ n: number }[]>`
    select count(*)::int as n from batches where watch_id = ${watchId} and created_at > ${since} and status = 'done'`;
  return row!.n;
}

async function watchBatchRunning(watchId: string): Promise<boolean> {
  const [row] = await stack.db.sql<{ n: number }[]>`
    select count(*)::int as n from batches where watch_id = ${watchId} and status in ('queued', 'running')`;
  return row!.n > 0;
}

/** When the first of the watch's batches created after `since` completed. */
async function firstBatchEndSince(watchId: string, since: Date): Promise<Date> {
  const [row] = await stack.db.sql<{ at: Date | null }[]>`
    select min(completed_at) as at from batches where watch_id = ${watchId} and created_at > ${since} and status = 'done'`;
  if (!row?.at) throw new Error('no watch batch completed after the restart');
  return row.at;
}

async function pendingDeliveries(webhookId: string): Promise<number> {
  const [row] = await stack.db.sql<{ n: number }[]>`
    select count(*)::int as n from webhook_deliveries where webhook_id = ${webhookId} and status = 'pending'`;
  return row!.n;
}

/** An item that a watch batch created after the webhook saw first, and that batch's time. */
interface ExpectedItem {
  key: string;
  taken_at: Date;
  batch_s: number;
}

async function expectedItems(watchId: string, since: Date): Promise<ExpectedItem[]> {
  const rows = await stack.db.sql<{ profile_id: string; item_pk: string; taken_at: Date; batch_s: number }[]>`
    select i.profile_id, i.item_pk, i.taken_at,
      extract(epoch from b.completed_at - b.created_at)::float8 as batch_s
    from story_items i join batches b on b.id = i.first_seen_batch_id
    where b.watch_id = ${watchId} and b.created_at > ${since} and b.status = 'done'`;
  return rows.map((r) => ({ key: `${r.profile_id}/${r.item_pk}`, taken_at: r.taken_at, batch_s: r.batch_s }));
}

const itemKey = (r: ReceivedWebhook) => `${r.data?.profile_id}/${r.data?.item_pk}`;

/** The story.posted requests received, grouped by item: every webhook-id it came under, and when it first came. */
function announcedItems(): Map<string, { ids: Set<string>; first: Date }> {
  const byItem = new Map<string, { ids: Set<string>; first: Date }>();
  for (const r of receiver.received) {
    if (r.type !== 'story.posted') continue;
    const seen = byItem.get(itemKey(r)) ?? { ids: new Set<string>(), first: r.receivedAt };
    seen.ids.add(r.webhookId);
    byItem.set(itemKey(r), seen);
  }
  return byItem;
}

/** Kills the Temporal server with SIGKILL and starts it again on the same file and port; returns when each happened. */
async function restartTemporal(): Promise<{ killedAt: Date; backAt: Date }> {
  const killed = server!;
  signalGroup(killed.pid, 'SIGKILL');
  expect(await killed.exited).toMatchObject({ signal: 'SIGKILL' });
  server = undefined;
  const killedAt = new Date();
  // the outage itself: a fault held for a while, not a wait for a condition
  await sleep(DOWN_MS);
  const restarted = await startServer();
  server = restarted;
  // only the original clients are used from here on: they find the new server by themselves
  await restarted.connection.close();
  return { killedAt, backAt: new Date() };
}

it('announces every new story item of a watched niche once, within an interval plus the batch time, across a Temporal restart', async () => {
  const niche = await call('POST', '/niches', { name: `watched ${taskQueue}` });
  await call('POST', '/profiles', { usernames: usernames(PROFILES, 'watched'), niche_id: niche.id });
  const watch = await call('POST', '/watches', { name: 'e2e watch', niche_id: niche.id, every_s: EVERY_S });
  expect(watch).toMatchObject({ niche_id: niche.id, every_s: EVERY_S, schedule_id: `watch-${watch.id}`, paused: false });

  // the first batch remembers the stories already live: those are not new, and no webhook hears of them
  await waitFor(() => doneBatchesSince(watch.id, new Date(0)), { what: 'the watch\'s first batch done', timeoutMs: 60_000 });
  const hook = await call('POST', '/webhooks', { url: receiver.url, events: ['story.posted'], niche_id: niche.id });
  expect(hook.secret).toMatch(/^whsec_/);
  receiver.trust(hook.secret);
  const hookAt = new Date(hook.created_at);

  // the kill lands while a watch batch runs, after a few ticks went through
  await waitFor(async () => (await doneBatchesSince(watch.id, hookAt)) >= BATCHES_BEFORE && (await watchBatchRunning(watch.id)), {
    what: `${BATCHES_BEFORE} watch batches done and another running`,
    timeoutMs: 90_000,
    stepMs: 20,
  });
  const outage = await restartTemporal();

  await waitFor(async () => (await doneBatchesSince(watch.id, outage.backAt)) >= BATCHES_AFTER, {
    what: `${BATCHES_AFTER} watch batches done after the restart`,
    timeoutMs: 120_000,
  });
  // no more ticks: the items to announce are those seen so far
  await call('POST', `/watches/${watch.id}/pause`);
  await waitFor(async () => !(await watchBatchRunning(watch.id)), { what: 'the last watch batch ended', timeoutMs: 60_000 });
  const expected = await expectedItems(watch.id, hookAt);
  expect(expected.length).toBeGreaterThan(BATCHES_BEFORE + BATCHES_AFTER);
  await waitFor(async () => expected.every((e) => announcedItems().has(e.key)), {
    what: () => `every new item announced (${expected.filter((e) => announcedItems().has(e.key)).length} of ${expected.length})`,
    timeoutMs: 120_000,
  });

  const announced = announcedItems();
  // every request came signed with the endpoint's secret, and every item announced is one that is new
  expect(receiver.received.filter((r) => !r.verified).map((r) => r.error)).toEqual([]);
  const posted = receiver.received.filter((r) => r.type === 'story.posted');
  expect(posted.every((r) => r.data.niche_id === niche.id)).toBe(true);
  const firstSeenAfterHook = new Set((await expectedItems(watch.id, new Date(hookAt.getTime() - EVERY_S * 1000))).map((e) => e.key));
  expect([...announced.keys()].filter((k) => !firstSeenAfterHook.has(k))).toEqual([]);

  // no item twice: one webhook-id each at the receiver, one outbox row each, every row delivered
  expect([...announced].filter(([, a]) => a.ids.size > 1).map(([k]) => k)).toEqual([]);
  await waitFor(async () => (await pendingDeliveries(hook.id)) === 0, { what: 'every delivery finished', timeoutMs: 30_000 });
  const rows = await stack.db.sql<{ n: number; status: string }[]>`
    select count(*)::int as n, min(status) as status from webhook_deliveries where webhook_id = ${hook.id}
    group by profile_id, item_pk having count(*) > 1 or min(status) <> 'delivered'`;
  expect(rows).toEqual([]);

  // on time: an interval plus the batch's time from its posting, unless its way crossed the outage (which lasts
  // until the first batch after the restart has run: the worker has to find the server again first)
  const recoveredAt = await firstBatchEndSince(watch.id, outage.backAt);
  const late: string[] = [];
  let acrossOutageMaxS = 0;
  let onTime = 0;
  let closestShare = 0;
  for (const e of expected) {
    const first = announced.get(e.key)!.first;
    const tookMs = first.getTime() - e.taken_at.getTime();
    if (e.taken_at <= recoveredAt && first >= outage.killedAt) {
      acrossOutageMaxS = Math.max(acrossOutageMaxS, tookMs / 1000);
      continue;
    }
    const boundMs = EVERY_S * 1000 + e.batch_s * 1000 + DELIVERY_MARGIN_MS;
    if (tookMs > boundMs) late.push(`${e.key}: ${tookMs} ms > ${Math.round(boundMs)} ms`);
    onTime++;
    closestShare = Math.max(closestShare, tookMs / boundMs);
  }
  expect(late).toEqual([]);
  const repeats = posted.length - [...announced.values()].reduce((sum, a) => sum + a.ids.size, 0);
  console.info(
    `watch webhooks: ${expected.length} new items announced once each (${repeats} repeated arrivals); ${onTime} held to the bound, ` +
      `the slowest at ${(closestShare * 100).toFixed(0)}% of it; at most ${acrossOutageMaxS.toFixed(1)} s across the outage`,
  );

  // the worker process reconnected rather than crashing
  expect(worker.child.exitCode).toBeNull();
  expect(worker.child.signalCode).toBeNull();
}, 420_000);
