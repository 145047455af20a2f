/**
 * `npm run dev`: the whole product on one machine (docs/operations.md).
 *
 * In order: Postgres (with DATABASE_URL unset and nothing answering on DEV_POSTGRES_PORT, an embedded one from
 * npm, its data under DEV_DATA_DIR/postgres), the migrations (creating the database if missing), the Temporal
 * dev server (a child process with a SQLite file under DEV_DATA_DIR and the Web UI, unless TEMPORAL_ADDRESS
 * names a server to use), the upstream simulator with a few local forward proxies in front of it, the demo
 * data, a local webhook receiver, a worker and the API (both in this process), a demo batch, and a demo watch and
 * webhook to the receiver (./webhook-demo.ts). Then it prints where everything is.
 *
 * Ctrl-C (SIGINT, SIGTERM or SIGHUP) stops it all in the reverse order: the API first (no new work), the
 * worker gracefully (in-flight checks finish), the simulator and proxies, the Temporal server (the worker
 * needs it to shut down cleanly) and an embedded Postgres last. A second Ctrl-C (2 s or more after the first)
 * exits at once; the Temporal server and an embedded Postgres still go with it.
 *
 * Environment (src/config.ts, README "Configuration"): the service's variables (PORT, DATABASE_URL, LOG_LEVEL,
 * ...), the DEV_* ones (where Postgres, Temporal and the simulator listen, how many proxies and demo profiles),
 * the simulator's stories (here items live 10 minutes and each lane posts every 5, so the demo shows stories
 * appear and end; SIM_STORY_TTL_S, SIM_STORY_POST_EVERY_S) and its realism (`SIM_PROFILE=realistic
 * SIM_TIME_SCALE=60`). The simulator is always the upstream here (STORY_API_BASE_URL points at it), and the
 * worker serves its metrics on WORKER_METRICS_PORT (default here 9464, the usual port of a Prometheus exporter).
 *
 * Each step is a function of its own (./infrastructure.ts, ./services.ts); ./dev-run.ts holds what they share.
 */
import { loadDevProcess, type DevProcessSettings } from '../config.js';
import { exporterAddressFor } from '../metrics/temporal-exporter.js';
import { redact } from '../logging/redact.js';
import { runMain } from '../process/run-main.js';
import { getBatch } from '../repos/batches.js';
import { getQueue } from '../repos/queue.js';
import { createWorkerSql } from '../worker/dependencies.js';
import { renderBanner, type WebhookDemoInfo } from './banner.js';
import { createDevRun, type DevRun } from './dev-run.js';
import { dataDirOf, ensurePortsFree, migrateDatabase, startPostgres, startTemporal, type DevPostgres, type DevTemporal } from './infrastructure.js';
import { seedDemoData, startApiServer, startDemoBatch, startUpstream, startWorker, type DevUpstream } from './services.js';
import type { Sql } from '../db/sql.js';
import type { RunningApi } from '../api/server.js';
import type { WorkerMetricsServer } from '../metrics/worker-server.js';
import type { DemoBatch } from './seed.js';
import { startReceiver, startWebhookDemo } from './webhook-demo.js';

async function main(settings: DevProcessSettings): Promise<void> {
  const run = createDevRun();
  try {
    await ensurePortsFree(settings);
    const postgres = await startPostgres(run, settings);
    await migrateDatabase(run, postgres, settings.databaseUrlGiven);
    let config = { ...settings.config, DATABASE_URL: postgres.databaseUrl };
    // the worker's pool (and the launcher's few queries); the API opens its own pools (src/api/server.ts), so a
    // burst of requests never takes the connections checking needs
    const sql = createWorkerSql(config);
    run.shutdown.add('Postgres pool', () => sql.end({ timeout: 5 }));
    const temporal = await startTemporal(run, config, settings);
    config = temporal.config;
    const upstream = await startUpstream(run, sql, settings);
    config = { ...config, STORY_API_BASE_URL: upstream.sim.url };
    const { profileIds, niches } = await seedDemoData(run, sql, settings, upstream.proxies);
    const receiver = await startReceiver(run);
    const workerMetrics = await startWorker(run, config, sql, temporal.client);
    const api = await startApiServer(run, config, temporal.client);
    const demo = await startDemoBatch(run, config, sql, temporal.client, profileIds);
    const webhooks = await startWebhookDemo(run, { config, apiUrl: api.url, receiver, niches, withWatch: profileIds.length > 0 });
    if (run.shutdown.started) return;
    await printBanner(run, sql, { settings, postgres, temporal, upstream, workerMetrics, api, demo, webhooks });
  } catch (err) {
    if (run.shutdown.started) return;
    run.log.error(`npm run dev could not start: ${(err as Error)?.message ?? String(err)}`);
    run.stopAll('start-up failed', 1);
  }
}

interface Started {
  settings: DevProcessSettings;
  postgres: DevPostgres;
  temporal: DevTemporal;
  upstream: DevUpstream;
  workerMetrics: WorkerMetricsServer | null;
  api: RunningApi;
  demo: DemoBatch | null;
  webhooks: WebhookDemoInfo;
}

/** Where everything is; what it says of the queue and the demo batch is read now, so it tells what will happen. */
async function printBanner(run: DevRun, sql: Sql, { settings, postgres, temporal, upstream, workerMetrics, api, demo, webhooks }: Started): Promise<void> {
  const queue = await getQueue(sql);
  const demoNow = demo ? await getBatch(sql, demo.batch.id) : null;
  if (run.shutdown.started) return;
  const { config } = temporal;
  const banner = renderBanner({
    apiUrl: api.url,
    apiKeySet: config.API_KEY !== undefined,
    metricsPublic: config.METRICS_PUBLIC,
    workerMetricsUrl: workerMetrics?.url ?? null,
    temporalAddress: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    uiUrl: temporal.server?.uiUrl ?? null,
    simulatorUrl: upstream.sim.url,
    simulatorProfile: settings.simulator.profile ?? 'friendly',
    proxyUrls: upstream.proxies.proxies.map((p) => p.url),
    databaseUrl: postgres.databaseUrl,
    postgresDataDir: postgres.embedded?.dataDir ?? null,
    postgresBinariesDir: postgres.embedded?.sharedBinaries ?? null,
    dataDir: temporal.server ? dataDirOf(settings) : null,
    queueHeld: queue.paused,
    runningBatchId: queue.running?.id ?? null,
    demoBatch:
      demo && demoNow
        ? { id: demoNow.id, totalProfiles: demoNow.total_profiles, created: demo.created, status: demoNow.status, position: demoNow.position }
        : null,
    webhooks,
  });
  console.log(redact(banner));
}

runMain(main, {
  load: loadDevProcess,
  temporalRuntime: true,
  temporalMetrics: exporterAddressFor,
  prettyLogsInTerminal: true,
  failure: (err) => redact(String((err as Error)?.stack ?? err)),
});
