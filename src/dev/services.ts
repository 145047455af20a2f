/**
 * The later steps of `npm run dev`: the upstream simulator with its local forward proxies, the demo data, a
 * worker and the API (both in this process), and the demo batch. Each step registers how to stop what it
 * started with the run's shutdown.
 */
import type { Client } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { startApi, type RunningApi } from '../api/server.js';
import { DEV_HOST, type Config, type DevProcessSettings } from '../config.js';
import type { Sql } from '../db/sql.js';
import { createLogger } from '../logging/logger.js';
import { serveWorkerMetrics, type WorkerMetricsServer } from '../metrics/worker-server.js';
import { temporalMetricsUrl } from '../process/temporal-runtime.js';
import { createBatchControl } from '../queue/batch-control.js';
import { startSimulator, type RunningSimulator } from '../simulator/app.js';
import { createCheckDependencies } from '../worker/dependencies.js';
import { startWorkerBackground } from '../worker/background.js';
import { createWorkers } from '../worker/worker.js';
import { friendlyListenError, type DevRun } from './dev-run.js';
import { startPoolProxies, type PoolProxies } from './pool-proxies.js';
import { DEMO_PROXY_USERNAME, demoProxyPassword, ensureDemoBatch, seedNiches, seedProfiles, seedSessions, type DemoBatch } from './seed.js';

export interface DevUpstream {
  sim: RunningSimulator;
  proxies: PoolProxies;
}

/** The simulator (always the upstream here), and DEV_PROXIES local forward proxies in the pool, replacing the last run's. */
export async function startUpstream(run: DevRun, sql: Sql, { dev, simulator }: DevProcessSettings): Promise<DevUpstream> {
  const sim = await startSimulator({
    host: DEV_HOST,
    port: dev.DEV_SIM_PORT,
    storyRate: 0.3,
    latencyMs: dev.DEV_SIM_LATENCY_MS,
    jitterMs: dev.DEV_SIM_JITTER_MS,
    ratePerSecond: dev.DEV_SIM_RATE_PER_SECOND,
    ...simulator,
  }).catch((err: unknown) => {
    throw friendlyListenError(err, 'simulator', 'DEV_SIM_PORT', dev.DEV_SIM_PORT);
  });
  run.shutdown.add('simulator', () => sim.close());
  const proxies = await startPoolProxies(sql, {
    count: dev.DEV_PROXIES,
    host: DEV_HOST,
    auth: { username: DEMO_PROXY_USERNAME, password: demoProxyPassword() },
    replacePrevious: true,
  });
  run.shutdown.add('forward proxies', () => proxies.close());
  return { sim, proxies };
}

export interface DemoData {
  profileIds: string[];
  /** The demo niches' ids by name. */
  niches: Map<string, string>;
}

/** Niches, DEV_DEMO_PROFILES profiles and a few sessions. */
export async function seedDemoData(run: DevRun, sql: Sql, { dev }: DevProcessSettings, proxies: PoolProxies): Promise<DemoData> {
  const niches = await seedNiches(sql);
  const profileIds = await seedProfiles(sql, dev.DEV_DEMO_PROFILES, niches);
  const sessionsAdded = await seedSessions(sql);
  run.log.info('demo data ready', {
    niches: niches.size,
    profiles: profileIds.length,
    proxies: proxies.proxies.length,
    stale_proxies_removed: proxies.replaced,
    sessions_added: sessionsAdded,
  });
  return { profileIds, niches };
}

/** Runs `worker` until the dev run shuts down; a worker that stops before that stops the run. */
function runUntilShutdown(run: DevRun, name: string, worker: Worker): void {
  const running = worker.run();
  running.catch((err: unknown) => {
    if (run.shutdown.started) return;
    run.log.error(`the ${name} stopped unexpectedly`, { err });
    run.stopAll(`${name} failed`, 1);
  });
  run.shutdown.add(
    name,
    async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => {});
    },
    30_000,
  );
}

/** A worker in this process, with its metrics, its schedules (proxy-health, retention, every watch's), the queue watch and the webhook dispatcher. */
export async function startWorker(run: DevRun, config: Config, sql: Sql, temporal: Client): Promise<WorkerMetricsServer | null> {
  const workerLog = createLogger({ component: 'worker' });
  const deps = await createCheckDependencies(config, { sql, logger: workerLog, temporal });
  run.shutdown.add('check dependencies', () => deps.close());
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  run.shutdown.add('worker connection', () => connection.close());
  const { worker, webhookWorker } = await createWorkers({ connection, namespace: config.TEMPORAL_NAMESPACE, taskQueue: config.TEMPORAL_TASK_QUEUE, config, deps });
  runUntilShutdown(run, 'worker', worker);
  runUntilShutdown(run, 'webhook worker', webhookWorker);
  run.log.info('worker started', { task_queue: config.TEMPORAL_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE });
  const metrics = await serveWorkerMetrics(config, temporalMetricsUrl()).catch((err: unknown) => {
    throw friendlyListenError(err, 'worker metrics', 'WORKER_METRICS_PORT', config.WORKER_METRICS_PORT ?? 0);
  });
  if (metrics) run.shutdown.add('worker metrics', () => metrics.close());
  const background = await startWorkerBackground({ sql, client: temporal, config, logger: workerLog });
  run.shutdown.add('queue watch and webhook dispatcher', () => background.stop());
  return metrics;
}

/** The API and the dashboard, in this process. */
export async function startApiServer(run: DevRun, config: Config, temporal: Client): Promise<RunningApi> {
  const api = await startApi({ config, temporal, logger: createLogger({ component: 'api' }) }).catch((err: unknown) => {
    throw friendlyListenError(err, 'API', 'PORT', config.PORT);
  });
  run.shutdown.add('API', () => api.close());
  return api;
}

/** The demo batch over the demo profiles, unless one is already queued, running or paused. */
export async function startDemoBatch(run: DevRun, config: Config, sql: Sql, temporal: Client, profileIds: string[]): Promise<DemoBatch | null> {
  const control = createBatchControl({ sql, temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, logger: run.log });
  const demo = await ensureDemoBatch(sql, control, profileIds);
  if (demo) run.log.info(demo.created ? 'demo batch created' : `demo batch already ${demo.batch.status}`, { batch_id: demo.batch.id });
  return demo;
}
