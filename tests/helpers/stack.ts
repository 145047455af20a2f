/**
 * The real parts a batch needs, in-process: a database of the test's own, the upstream simulator, local
 * forward proxies (Basic auth, each leaving from its own loopback address) registered in the pool, and the
 * worker's dependencies. Temporal is supplied by the test file (one server per file).
 */
import { loadConfig, type Config } from '../../src/config.js';
import { createCheckDependencies, type CheckDependencies } from '../../src/worker/dependencies.js';
import type { ForwardProxies } from '../../src/local/forward-proxies.js';
import { startPoolProxies } from '../../src/dev/pool-proxies.js';
import { createLogger, setLogLevel } from '../../src/logging/logger.js';
import { type BatchRow } from '../../src/repos/batches.js';
import { createBatch, claimNextBatch } from '../../src/repos/queue.js';
import { upsertProfiles } from '../../src/repos/profiles.js';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/simulator/app.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export const PROXY_USERNAME = 'sc-user';
export const PROXY_PASSWORD = 'proxy-pass-7f3a9c';

export interface Stack {
  db: TestDatabase;
  sim: RunningSimulator;
  proxies: ForwardProxies;
  config: Config;
  deps: CheckDependencies;
  close(): Promise<void>;
}

export interface StackOptions {
  proxies?: number;
  sim?: SimulatorOptions;
  env?: Record<string, string>;
  clock?: () => Date | Promise<Date>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  // every line is written, for the secret scan of the test run (tests/helpers/log-scan.ts), which prints
  // them only when TEST_LOG_LEVEL asks
  setLogLevel('debug');
  const db = await createTestDatabase();
  const sim = await startSimulator(options.sim ?? {});
  const proxies = await startPoolProxies(db.sql, { count: options.proxies ?? 2, auth: { username: PROXY_USERNAME, password: PROXY_PASSWORD } });
  const config = loadConfig({
    DATABASE_URL: db.url,
    STORY_API_BASE_URL: sim.url,
    TEMPORAL_SEARCH_ATTRIBUTES: 'false',
    CHECK_INITIAL_INTERVAL_MS: '100',
    CHECK_MAX_INTERVAL_MS: '2000',
    CHECK_TIMEOUT_MS: '5000',
    LOG_LEVEL: 'silent',
    ...options.env,
  });
  const deps = await createCheckDependencies(config, { sql: db.sql, clock: options.clock, logger: createLogger({ test: true }) });
  return {
    db,
    sim,
    proxies,
    config,
    deps,
    async close() {
      await deps.close();
      await proxies.close();
      await sim.close();
      await db.drop();
    },
  };
}

/** `n` usernames unique to this call (the simulator derives every profile from its name). */
export function usernames(n: number, prefix = 'user'): string[] {
  const tag = Math.random().toString(36).slice(2, 7);
  return Array.from({ length: n }, (_, i) => `${prefix}_${tag}_${i}`);
}

/** Creates profiles and a batch over them; queued unless `hold`. */
export async function makeBatch(
  stack: Stack,
  names: string[],
  options: { name?: string; priority?: number; hold?: boolean; maxAgeS?: number } = {},
): Promise<BatchRow> {
  const { items } = await upsertProfiles(stack.db.sql, names);
  return createBatch(stack.db.sql, { ...options, profileIds: items.map((p) => p.id) });
}

/** Queues a batch and marks it running, as the queue runner would, without the runner. */
export async function makeRunningBatch(stack: Stack, names: string[]): Promise<BatchRow> {
  await makeBatch(stack, names);
  const claimed = await claimNextBatch(stack.db.sql);
  if (!claimed) throw new Error('no batch claimed');
  return claimed;
}

export async function batchCounters(stack: Stack, batchId: string) {
  const [row] = await stack.db.sql<
    { status: string; total_profiles: number; successful_checks: number; failed_checks: number; stories_found: number }[]
  >`select status, total_profiles, successful_checks, failed_checks, stories_found from batches where id = ${batchId}`;
  return row!;
}

export async function eventCounts(stack: Stack, batchId: string): Promise<Record<string, number>> {
  const rows = await stack.db.sql<{ event_type: string; n: number }[]>`
    select event_type, count(*)::int as n from batch_logs where batch_id = ${batchId} group by event_type`;
  return Object.fromEntries(rows.map((r) => [r.event_type, r.n]));
}
