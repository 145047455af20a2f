/**
 * The HTTP API on HOST:PORT, started by `npm run api` (src/api/main.ts), the dev launcher and the tests. It
 * starts even when Postgres or Temporal is down (the routes that need them answer 503 until they are back;
 * /readyz says which). `close()` stops it gracefully: no new connections, open event streams end, in-flight
 * requests get a moment, then the Postgres pool and the Temporal connection close.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config.js';
import { createSql, describeDbError, poolSettings, type Sql } from '../db/sql.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { loadSecrets } from '../repos/proxies.js';
import { consoleAssets } from '../console/assets.js';
import { createApp } from './app.js';
import { withTimeout } from '../process/timeouts.js';
import { settleTemporalCalls } from './readiness.js';

const TEMPORAL_CONNECT_TIMEOUT_MS = 5_000;
const POSTGRES_CONNECT_TIMEOUT_S = 5;
/** Connections of the background readers' pool: one reader per followed batch, the story events' one, and the metrics scrape. */
const BACKGROUND_POOL = 3;
/** How long in-flight requests may take to finish once shutdown begins. */
const SHUTDOWN_GRACE_MS = 5_000;

export interface StartApiOptions {
  config: Config;
  /**
   * Used as given, for requests, event streams and /readyz alike, and left open on close; otherwise the API
   * opens its three pools (see `openPools`) and closes them.
   */
  sql?: Sql;
  /** Used as given and left open on close; otherwise one is created on a lazy connection (and closed). */
  temporal?: Client;
  logger?: Logger;
  /** Overrides config.PORT (0 picks a free port). */
  port?: number;
}

export interface RunningApi {
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  close(): Promise<void>;
}

/** A Temporal client whose connection is made on first use, so an unreachable server does not stop the API. */
async function connectTemporal(config: Config, logger: Logger): Promise<{ client: Client; connection: Connection }> {
  const connection = Connection.lazy({ address: config.TEMPORAL_ADDRESS, connectTimeout: TEMPORAL_CONNECT_TIMEOUT_MS });
  try {
    await withTimeout(connection.ensureConnected(), TEMPORAL_CONNECT_TIMEOUT_MS + 500);
  } catch (err) {
    logger.warn('Temporal is unreachable; serving anyway, batch and queue transitions answer 503 until it is back', {
      address: config.TEMPORAL_ADDRESS,
      err,
    });
  }
  return { client: new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), connection };
}

interface ApiPools {
  requests: Sql;
  background: Sql;
  readiness: Sql;
  end(): Promise<void>;
}

/**
 * Three pools, so that no kind of work can starve another: request handling (API_DATABASE_POOL connections),
 * the background readers (event streams, the metrics scrape) and /readyz (one connection: a probe answers
 * whatever the requests are doing). Each is guarded and bounded as src/db/guard.ts says.
 */
function openPools(config: Config): ApiPools {
  const open = (name: string, max: number) =>
    createSql(config.DATABASE_URL, { max, name, connectTimeout: POSTGRES_CONNECT_TIMEOUT_S, ...poolSettings(config) });
  const requests = open('storycheck-api', config.API_DATABASE_POOL);
  const background = open('storycheck-api-background', BACKGROUND_POOL);
  const readiness = open('storycheck-api-readiness', 1);
  return {
    requests,
    background,
    readiness,
    async end() {
      await Promise.all([requests, background, readiness].map((sql) => sql.end({ timeout: 5 })));
    },
  };
}

function baseUrl(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

export async function startApi(options: StartApiOptions): Promise<RunningApi> {
  const { config } = options;
  const logger = options.logger ?? createLogger({ component: 'api' });
  const pools: ApiPools = options.sql
    ? { requests: options.sql, background: options.sql, readiness: options.sql, end: async () => {} }
    : openPools(config);
  const sql = pools.requests;
  const temporal = options.temporal ? { client: options.temporal, connection: null } : await connectTemporal(config, logger);

  try {
    // every stored password and token becomes a known secret, scrubbed from anything logged
    await loadSecrets(sql);
  } catch (err) {
    logger.warn(`could not load stored secrets; serving anyway (routes answer 503 while Postgres is unreachable): ${describeDbError(err)}`);
  }
  if (!config.API_KEY) {
    logger.warn('API_KEY is not set: the API is open to anyone who can reach it (set API_KEY to require a bearer token)');
  }

  // the dashboard's bundle is built now rather than on its first visitor's request
  consoleAssets().catch((err: unknown) => logger.error('the dashboard could not be built; the API serves on without it', { err }));

  const shutdown = new AbortController();
  const app = createApp({
    sql,
    backgroundSql: pools.background,
    readinessSql: pools.readiness,
    temporal: temporal.client,
    config,
    logger,
    shutdown: shutdown.signal,
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.HOST, port: options.port ?? config.PORT }, () =>
      resolve(s as Server),
    ) as Server;
    s.once('error', reject);
  });
  const url = baseUrl(server.address() as AddressInfo);

  let closing: Promise<void> | null = null;
  async function close(): Promise<void> {
    closing ??= (async () => {
      shutdown.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // connections go idle as their requests finish (event streams end at the abort above): close them then
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await closed;
      clearInterval(sweep);
      clearTimeout(force);
      await pools.end();
      if (temporal.connection) {
        await settleTemporalCalls(temporal.client);
        await temporal.connection.close();
      }
    })();
    return closing;
  }

  return { url, close };
}
