/**
 * A throwaway Postgres server of the test's own (src/local/embedded-postgres.ts), for tests that stop and
 * restart the database: the shared server is never touched. Its data lives in a temporary folder, it listens
 * on a free port of 127.0.0.1, and `stop()`/`start()` are real: the server process stops (a fast shutdown:
 * every connection is dropped) and a new one starts on the same data and port.
 */
import { embeddedPostgresUrl, standInPostgres, startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/local/embedded-postgres.js';
import { freePort } from '../../src/local/ports.js';
import { cleanUpOnExit } from './last-resort.js';

export interface ThrowawayPostgres {
  port: number;
  /** `postgres://…/<database>` on this server. */
  urlFor(database: string): string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and deletes its data (idempotent; for afterAll). */
  destroy(): Promise<void>;
}

/** Initialises and starts a Postgres server in a fresh temporary directory. */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const port = await freePort();
  const standIn = (await standInPostgres(embeddedPostgresUrl(port, 'postgres'), { durable: false }))!;
  const options = { dataDir: standIn.server.dataDir, port, durable: false };
  let server: EmbeddedPostgres | null = standIn.server;
  let destroyed = false;
  // last resort, if the test process ends without destroy(): the data goes (the server stops by itself)
  const unregister = cleanUpOnExit(() => standIn.removeData());

  async function stop(): Promise<void> {
    await server?.stop();
    server = null;
  }
  return {
    port,
    urlFor: (database) => embeddedPostgresUrl(port, database),
    async start() {
      server ??= await startEmbeddedPostgres(options);
    },
    stop,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      unregister();
      await stop();
      standIn.removeData();
    },
  };
}
