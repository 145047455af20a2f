/**
 * The proxy pool on a database of its own, for the pool-*.test.ts files: one pool per file over a database
 * emptied before each test (no proxies, no sessions, one paused batch for the logs), and the few moves every
 * test makes (add proxies, take a slot that must be granted, read the batch's logs).
 *
 * `db`, `pool` and `batchId` are live bindings: a test file calls usePoolDatabase() once at its top, and reads
 * them inside its tests, where they hold that file's database, pool and current batch (each test file runs
 * in a module graph of its own, so files never share them).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { setLogSink, type LogSink } from '../../src/logging/logger.js';
import { createProxyPool, type Lease, type ProxyPool } from '../../src/pool/pool.js';
import { listLogs, type LogRow } from '../../src/repos/logs.js';
import { createProxy, getProxy } from '../../src/repos/proxies.js';
import { createTestDatabase, type TestDatabase } from './db.js';

/** The pool under test: up to 3 requests through one proxy at once, paced only by what it learns. */
export const BASE_ENV = {
  PROXY_COOLDOWN_MS: '600',
  PROXY_MAX_CONSECUTIVE_FAILURES: '3',
  PROXY_LEASE_MS: '7000',
  CHECK_TIMEOUT_MS: '1000',
  PROXY_MAX_IN_FLIGHT: '3',
  PROXY_MIN_INTERVAL_MS: '0',
};
export const config = loadConfig(BASE_ENV);

export let db: TestDatabase;
export let pool: ProxyPool;
/** A paused batch of the current test's own, for the logs a release writes. */
export let batchId: string;

/** Creates the file's database and pool (beforeAll), empties it before each test, and drops it (afterAll). */
export function usePoolDatabase(): void {
  let previousSink: LogSink;
  beforeAll(async () => {
    previousSink = setLogSink(() => {});
    db = await createTestDatabase();
    pool = createProxyPool({ sql: db.sql, config });
  });
  afterAll(async () => {
    await db?.drop();
    setLogSink(previousSink);
  });
  beforeEach(async () => {
    await db.sql`truncate proxies, sessions, batch_logs, batch_profiles, batches cascade`;
    const [batch] = await db.sql<{ id: string }[]>`insert into batches (name, status) values ('pool test', 'paused') returning id`;
    batchId = batch!.id;
  });
}

/** Adds `n` proxies, each with credentials of its own (user<i> / pool-pass-<i>, port 20000 + i). */
export async function addProxies(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const row = await createProxy(db.sql, { url: `http://user${i}:pool-pass-${i}@127.0.0.1:${20000 + i}` });
    ids.push(row.id);
  }
  return ids;
}

/** Another pool over the same database, with some settings changed (as another worker process would be). */
export function poolWith(env: Record<string, string>): ProxyPool {
  return createProxyPool({ sql: db.sql, config: loadConfig({ ...BASE_ENV, ...env }) });
}

/** A slot that must be granted now. */
export async function leaseOk(holder: string, leaseMs?: number, from: ProxyPool = pool): Promise<Lease> {
  const result = await from.lease(holder, { leaseMs });
  if (!result.ok) throw new Error(`expected a lease, got ${result.reason}`);
  return result.lease;
}

/** A slot on the (one) proxy, waiting for its rest to end or its schedule to come within reach. */
export async function leaseWhenFree(holder: string): Promise<Lease> {
  const result = await pool.acquire(holder, { timeoutMs: 15_000, pollMs: 20 });
  if (!result.ok) throw new Error(`expected a slot, got ${result.reason}`);
  return result.lease;
}

/** The current batch's log lines of one event type. */
export async function logsOf(eventType: string): Promise<LogRow[]> {
  return (await listLogs(db.sql, batchId, { eventType, limit: 1000 })).items;
}

export async function waitOutRest(proxyId: string): Promise<void> {
  const until = (await getProxy(db.sql, proxyId)).rate_limited_until;
  if (until) await sleep(Math.max(0, until.getTime() - Date.now()) + 20);
}

export function expectNear(actual: Date | null | undefined, expectedMs: number, toleranceMs = 400): void {
  expect(actual).toBeInstanceOf(Date);
  expect(Math.abs(actual!.getTime() - expectedMs)).toBeLessThan(toleranceMs);
}
