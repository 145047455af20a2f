/**
 * Fault: Postgres restarted mid-batch (at about 50% of the profiles checked). A real restart of a server of
 * the test's own: the server process stops (every connection drops), stays down for a moment, and a new one
 * starts on the same data directory and port. The workers' postgres.js pools reconnect by themselves; the
 * activities that hit the outage fail and are retried.
 *
 * Invariant (tests/helpers/invariants.ts), with exact counts for a batch of 300 profiles that all exist
 * upstream: the batch ends `done` with 300 completed rows, successful_checks = completed_profiles = 300,
 * failed_checks = 0, 300 STORY_CHECK_SUCCESS logs (one per profile), and total_checks = 1 on every profile.
 *
 * Real worker processes, a Temporal dev server, the throwaway Postgres, the upstream simulator and proxies.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBatchControl } from '../../src/queue/batch-control.js';
import { createSql, type Sql } from '../../src/db/sql.js';
import { startForwardProxies, type ForwardProxies } from '../../src/local/forward-proxies.js';
import { createLogger, setLogLevel } from '../../src/logging/logger.js';
import { migrate } from '../../src/migrate/migrate.js';
import { getBatch } from '../../src/repos/batches.js';
import { upsertProfiles } from '../../src/repos/profiles.js';
import { createProxy } from '../../src/repos/proxies.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/app.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../helpers/embedded-postgres.js';
import { expectExactlyOnce } from '../helpers/invariants.js';
import { killAllChildren, startWorkerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { PROXY_PASSWORD, PROXY_USERNAME, usernames } from '../helpers/stack.js';
import { createLocalEnv, uniqueIds } from '../helpers/temporal.js';

const PROFILES = 300;
/**
 * How long the database stays down: longer than the workers' heartbeat timeout (3 s) and proxy lease (7.5 s),
 * so chunk attempts time out and leases lapse during the outage, not only in-flight queries fail.
 */
const DOWN_MS = 8_000;

let env: TestWorkflowEnvironment;
let pg: ThrowawayPostgres;
let sql: Sql;
let sim: RunningSimulator;
let proxies: ForwardProxies;
let databaseUrl: string;
const { taskQueue } = uniqueIds('pgrestart');

beforeAll(async () => {
  setLogLevel('silent');
  pg = await startThrowawayPostgres();
  databaseUrl = pg.urlFor('storycheck_fault');
  await migrate(databaseUrl);
  sql = createSql(databaseUrl, { max: 4 });
  env = await createLocalEnv();
  sim = await startSimulator({ latencyMs: 40 });
  proxies = await startForwardProxies({ count: 2, auth: { username: PROXY_USERNAME, password: PROXY_PASSWORD } });
  for (const p of proxies.proxies) await createProxy(sql, { url: p.url, username: PROXY_USERNAME, password: PROXY_PASSWORD });
});

afterAll(async () => {
  await killAllChildren();
  await sql?.end({ timeout: 5 });
  await proxies?.close();
  await sim?.close();
  await env?.teardown();
  await pg?.destroy();
});

/** The batch as stored, or null while the database is unreachable. */
async function readBatch(id: string) {
  try {
    return await getBatch(sql, id);
  } catch {
    return null;
  }
}

it('a batch survives a Postgres restart mid-way and counts every profile exactly once', async () => {
  const worker = await startWorkerProcess({
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    STORY_API_BASE_URL: sim.url,
  });
  const control = createBatchControl({ sql, temporal: env.client, taskQueue, logger: createLogger({ test: 'pgrestart' }) });
  const { items } = await upsertProfiles(sql, usernames(PROFILES, 'pgrestart'));
  const batch = await control.create({ profileIds: items.map((p) => p.id) });

  await waitFor(async () => ((await readBatch(batch.id))?.successful_checks ?? 0) >= PROFILES / 2, { what: 'half the profiles checked', timeoutMs: 90_000 });
  await pg.stop();
  // every connection is gone: the test's own client fails too while the server is down
  await expect(sql`select 1`).rejects.toThrow();
  await sleep(DOWN_MS);
  await pg.start();

  const afterRestart = await getBatch(sql, batch.id);
  // the restart really landed mid-batch
  expect(afterRestart.status).toBe('running');
  expect(afterRestart.successful_checks).toBeLessThan(PROFILES);

  await waitFor(async () => (await readBatch(batch.id))?.status === 'done', { what: 'batch done', timeoutMs: 120_000 });
  await expectExactlyOnce(sql, batch.id, PROFILES);
  // the same worker process did all of it: its pool reconnected rather than the process crashing
  expect(worker.child.exitCode).toBeNull();
  expect(worker.child.signalCode).toBeNull();
}, 240_000);
