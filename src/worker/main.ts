/**
 * `npm run worker`: one worker process polling the storycheck task queue for workflows and activities, and its
 * webhook deliveries' own task queue (src/worker/worker.ts).
 * Several can run at once against the same Temporal and Postgres. SIGINT/SIGTERM shut it down gracefully:
 * it stops polling, lets in-flight activities finish (a chunk that cannot finish in time is retried
 * elsewhere after its heartbeat times out), then closes its connections. While it runs it also makes sure the
 * queue runner exists whenever Postgres holds work for it, that every watch has its Schedule, and starts a
 * delivery workflow for each webhook outbox row (src/worker/background.ts).
 * With WORKER_METRICS_PORT set it serves its metrics there, the Temporal SDK's worker metrics included.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { describeDbError } from '../db/sql.js';
import { createCheckDependencies, type CheckDependencies } from './dependencies.js';
import { logger } from '../logging/logger.js';
import { exporterAddressFor } from '../metrics/temporal-exporter.js';
import { serveWorkerMetrics } from '../metrics/worker-server.js';
import { redact } from '../logging/redact.js';
import { runMain } from '../process/run-main.js';
import { temporalMetricsUrl } from '../process/temporal-runtime.js';
import { startWorkerBackground } from './background.js';
import { createWorkers } from './worker.js';

runMain(
  async ({ config }) => {
    let deps: CheckDependencies;
    try {
      deps = await createCheckDependencies(config);
      await deps.sql`select 1`;
    } catch (err) {
      console.error(redact(`worker cannot start: ${describeDbError(err)}`));
      process.exit(1);
    }
    const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
    const clientConnection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
    const client = new Client({ connection: clientConnection, namespace: config.TEMPORAL_NAMESPACE });
    // activities start and signal workflows through it (a watch tick wakes the queue runner)
    deps.temporal = client;
    const { worker, webhookWorker } = await createWorkers({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      config,
      deps,
    });
    const background = await startWorkerBackground({ sql: deps.sql, client, config, logger });
    logger.info('worker started', { task_queue: config.TEMPORAL_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE });
    const metrics = await serveWorkerMetrics(config, temporalMetricsUrl());
    if (metrics) logger.info('worker metrics served', { url: metrics.url });
    // Worker.run installs SIGINT/SIGTERM handlers that begin a graceful shutdown (of both)
    await Promise.all([worker.run(), webhookWorker.run()]);
    await metrics?.close();
    await background.stop();
    await deps.close();
    await clientConnection.close();
    await connection.close();
    logger.info('worker stopped');
  },
  {
    // the SDK's logs go through ours; its own SIGINT/SIGTERM handling is what stops `worker.run()` gracefully
    temporalRuntime: { signals: true },
    prettyLogsInTerminal: true,
    // with a metrics port, the SDK's worker metrics join the worker's own there
    temporalMetrics: exporterAddressFor,
    failure: (err) => redact(`worker failed: ${(err as Error)?.message ?? String(err)}`),
  },
);
