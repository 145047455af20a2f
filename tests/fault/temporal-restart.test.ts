/**
 * Fault: the Temporal dev server killed with SIGKILL mid-batch (at about 50% of the profiles checked) and,
 * after a moment down, started again on the same SQLite file and port. The worker process and the API's
 * client are not restarted: they reconnect by themselves. After the restart the same client queues a second
 * batch, which proves the client and the queue runner survived too.
 *
 * Invariant (tests/helpers/invariants.ts), with exact counts, all profiles existing upstream: the first batch
 * ends `done` with 300 completed rows, successful_checks = completed_profiles = 300, failed_checks = 0, 300
 * STORY_CHECK_SUCCESS logs (one per profile), total_checks = 1 on every profile; the second likewise with 50.
 *
 * Real worker process, the `temporal server start-dev` CLI on a SQLite file (as `npm run dev` runs it),
 * Postgres, the upstream simulator and forward proxies.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { findTemporalBinaries } from '../../src/local/temporal-binaries.js';
import { createBatchControl } from '../../src/queue/batch-control.js';
import { signalGroup, startDevTemporalServer, type DevTemporalServer } from '../../src/local/temporal-server.js';
import { createLogger } from '../../src/logging/logger.js';
import { getBatch } from '../../src/repos/batches.js';
import { batchWorkflowId } from '../../src/repos/queue.js';
import { upsertProfiles } from '../../src/repos/profiles.js';
import { QUEUE_WORKFLOW_ID } from '../../workflows/batch-queue.js';
import { searchAttributeKeys } from '../../workflows/search-attributes.js';
import { expectExactlyOnce } from '../helpers/invariants.js';
import { cleanUpOnExit } from '../helpers/last-resort.js';
import { freePort } from '../../src/local/ports.js';
import { killAllChildren, startWorkerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startStack, usernames, type Stack } from '../helpers/stack.js';
import { quietTemporalRuntime, uniqueIds } from '../helpers/temporal.js';

const PROFILES = 300;
const SECOND_BATCH = 50;
/** How long the server stays dead: long enough for polls, heartbeats and completions to fail on it. */
const DOWN_MS = 3_000;

const dataDir = mkdtempSync(join(tmpdir(), 'storycheck-temporal-'));
// whatever ends the test process, the server and its SQLite file go with it
cleanUpOnExit(() => {
  if (server) signalGroup(server.pid, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});
const logger = createLogger({ test: 'temporal-restart' });
let server: DevTemporalServer | undefined;
let client: Client;
let stack: Stack;
let ports: { port: number; uiPort: number };
const { taskQueue } = uniqueIds('tmprestart');

async function startServer(): Promise<DevTemporalServer> {
  const { cli } = findTemporalBinaries();
  if (!cli) throw new Error('the temporal CLI is missing (npm run temporal:install)');
  return startDevTemporalServer({
    cli,
    dataDir,
    host: '127.0.0.1',
    ...ports,
    namespace: 'default',
    searchAttributes: searchAttributeKeys,
    logger,
  });
}

beforeAll(async () => {
  quietTemporalRuntime();
  ports = { port: await freePort(), uiPort: await freePort() };
  server = await startServer();
  client = new Client({ connection: server.connection, namespace: 'default' });
  stack = await startStack({ proxies: 2, sim: { latencyMs: 40 } });
});

afterAll(async () => {
  await killAllChildren();
  await stack?.close();
  await client?.connection.close().catch(() => {});
  await server?.stop(5_000);
  rmSync(dataDir, { recursive: true, force: true });
});

async function newBatch(n: number, prefix: string) {
  const control = createBatchControl({ sql: stack.db.sql, temporal: client, taskQueue, logger });
  const { items } = await upsertProfiles(stack.db.sql, usernames(n, prefix));
  return control.create({ profileIds: items.map((p) => p.id) });
}

it('a batch survives the Temporal server being killed and restarted on its SQLite file, and counts every profile exactly once', async () => {
  const worker = await startWorkerProcess({
    DATABASE_URL: stack.db.url,
    TEMPORAL_ADDRESS: `127.0.0.1:${ports.port}`,
    TEMPORAL_TASK_QUEUE: taskQueue,
    STORY_API_BASE_URL: stack.sim.url,
  });
  const batch = await newBatch(PROFILES, 'tmprestart');

  await waitFor(async () => (await getBatch(stack.db.sql, batch.id)).successful_checks >= PROFILES / 2, { what: 'half the profiles checked', timeoutMs: 90_000 });
  const killed = server!;
  signalGroup(killed.pid, 'SIGKILL');
  expect(await killed.exited).toMatchObject({ signal: 'SIGKILL' });
  server = undefined;
  const atKill = await getBatch(stack.db.sql, batch.id);
  // the kill really landed mid-batch
  expect(atKill.status).toBe('running');
  expect(atKill.successful_checks).toBeLessThan(PROFILES);

  await sleep(DOWN_MS);
  const restarted = await startServer();
  server = restarted;
  // only the original client is used from here on: it has to find the new server by itself
  await restarted.connection.close();
  // the queue runner's and the batch's workflows were kept in the SQLite file and are still running
  const runner = await client.workflow.getHandle(QUEUE_WORKFLOW_ID).describe();
  expect(runner.status.name).toBe('RUNNING');
  expect(['RUNNING', 'COMPLETED']).toContain((await client.workflow.getHandle(batchWorkflowId(batch.id)).describe()).status.name);

  const second = await newBatch(SECOND_BATCH, 'tmprestart2');
  await waitFor(async () => {
    const [a, b] = await Promise.all([getBatch(stack.db.sql, batch.id), getBatch(stack.db.sql, second.id)]);
    return a.status === 'done' && b.status === 'done';
  }, { what: 'both batches done', timeoutMs: 150_000 });
  await expectExactlyOnce(stack.db.sql, batch.id, PROFILES);
  await expectExactlyOnce(stack.db.sql, second.id, SECOND_BATCH);
  // the same worker process did all of it: it reconnected rather than crashing
  expect(worker.child.exitCode).toBeNull();
  expect(worker.child.signalCode).toBeNull();
}, 300_000);
