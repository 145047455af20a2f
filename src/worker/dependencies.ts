/**
 * Builds the long-lived dependencies of a worker (or of the benchmark's plain loop) once: the Postgres
 * client, the proxy pool, the story client, and the checker and the health probe on top of them, plus the
 * Temporal client its activities start and signal workflows with.
 */
import type { Client } from '@temporalio/client';
import { createChecker, type Checker } from '../check/checker.js';
import { workerDatabasePool, type Config } from '../config.js';
import { createSql, poolSettings, type Sql } from '../db/sql.js';
import { createHealthProbe, type HealthProbe } from '../health/probe.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { createProxyPool, type ProxyPool } from '../pool/pool.js';
import { loadSecrets } from '../repos/proxies.js';
import { StoryClient } from '../upstream/story-client.js';

export interface CheckDependencies {
  sql: Sql;
  pool: ProxyPool;
  client: StoryClient;
  checker: Checker;
  health: HealthProbe;
  logger: Logger;
  /** The Temporal client activities start and signal workflows with (a watch tick wakes the queue runner). */
  temporal?: Client;
  close(): Promise<void>;
}

/** A worker's pool, of the size its configuration derives (workerDatabasePool). */
export function createWorkerSql(config: Config): Sql {
  return createSql(config.DATABASE_URL, { max: workerDatabasePool(config), name: 'storycheck-worker', ...poolSettings(config) });
}

export async function createCheckDependencies(
  config: Config,
  options: { sql?: Sql; logger?: Logger; clock?: () => Date | Promise<Date>; temporal?: Client } = {},
): Promise<CheckDependencies> {
  const logger = options.logger ?? createLogger({ component: 'worker' });
  const ownsSql = !options.sql;
  const sql = options.sql ?? createWorkerSql(config);
  // every stored password and token becomes a known secret before anything can log
  await loadSecrets(sql);
  const pool = createProxyPool({ sql, config, logger, clock: options.clock });
  const client = StoryClient.fromConfig(config, logger);
  // the checker computes its waits from the times the pool reports: on the pool's clock
  const checker = createChecker({ sql, pool, client, config, clock: options.clock ?? pool.now });
  const health = createHealthProbe({ sql, pool, client });
  return {
    sql,
    pool,
    client,
    checker,
    health,
    logger,
    temporal: options.temporal,
    async close() {
      await client.close();
      if (ownsSql) await sql.end({ timeout: 5 });
    },
  };
}
