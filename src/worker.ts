/**
 * `npm run worker`: one worker process polling the storycheck task queue for workflows and activities.
 * Several can run at once against the same Temporal and Postgres. SIGINT/SIGTERM shut it down gracefully:
 * it stops polling, lets in-flight activities finish (a chunk that cannot finish in time is retried
 * elsewhere after its heartbeat times out), then closes its connections. While it runs it also makes sure the
 * queue runner exists whenever Postgres holds work for it (src/queue-watch.ts), from the moment it starts.
 */
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { loadConfigOrExit, type Config } from './config.js';
import { describeDbError } from './db.js';
import { createCheckDependencies, type CheckDependencies } from './dependencies.js';
import { ensureProxyHealthSchedule } from './health-schedule.js';
import { logger } from './logger.js';
import { watchQueue } from './queue-watch.js';
import { redact } from './redact.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  config: Config;
  deps: CheckDependencies;
  /** Pre-bundled workflow code (tests bundle once per file). */
  workflowBundle?: { code: string };
}

export async function createWorker(options: WorkerOptions): Promise<Worker> {
  const { deps, config } = options;
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({ sql: deps.sql, pool: deps.pool, checker: deps.checker, health: deps.health, config }),
    // each in-flight chunk holds one proxy; leave room for the queue's own short activities
    maxConcurrentActivityTaskExecutions: Math.max(8, config.BATCH_CONCURRENCY * 2),
    shutdownGraceTime: '20 seconds',
  });
}

async function run(): Promise<void> {
  const config = loadConfigOrExit();
  let deps: CheckDependencies;
  try {
    deps = await createCheckDependencies(config);
    await deps.sql`select 1`;
  } catch (err) {
    console.error(redact(`worker cannot start: ${describeDbError(err)}`));
    process.exit(1);
  }
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await createWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    config,
    deps,
  });
  const clientConnection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const client = new Client({ connection: clientConnection, namespace: config.TEMPORAL_NAMESPACE });
  // the pool heals itself through a schedule: every worker makes sure it exists, with this interval
  await ensureProxyHealthSchedule(client, { taskQueue: config.TEMPORAL_TASK_QUEUE, intervalMs: config.PROXY_HEALTH_INTERVAL_MS });
  logger.info('worker started', { task_queue: config.TEMPORAL_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE });
  const queueWatch = watchQueue({ sql: deps.sql, temporal: client, taskQueue: config.TEMPORAL_TASK_QUEUE, logger });
  // Worker.run installs SIGINT/SIGTERM handlers that begin a graceful shutdown
  await worker.run();
  await queueWatch.stop();
  await deps.close();
  await clientConnection.close();
  await connection.close();
  logger.info('worker stopped');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().catch((err) => {
    console.error(redact(`worker failed: ${(err as Error)?.message ?? String(err)}`));
    process.exit(1);
  });
}
