/**
 * Runs once before the integration project: when no Postgres answers at the test server's address
 * (TEST_DATABASE_ADMIN_URL, by default 127.0.0.1:5432), starts an embedded one right there, so the suite
 * needs nothing but Node and python3 on the machine. Its data is throwaway and goes at the end. A Postgres
 * that answers is always used as it is.
 */
import { standInPostgres } from '../../src/local/embedded-postgres.js';
import { ADMIN_URL } from './db.js';

export default async function setup(): Promise<(() => Promise<void>) | void> {
  const started = Date.now();
  const standIn = await standInPostgres(ADMIN_URL, { durable: false, log: (line) => console.error(line) });
  if (!standIn) return;
  const { server } = standIn;
  const binaries = server.sharedBinaries ? `; binaries run from the shared copy in ${server.sharedBinaries}, kept for the next run` : '';
  console.error(
    `no Postgres answered at 127.0.0.1:${server.port}: the tests run on an embedded Postgres there ` +
      `(started in ${Date.now() - started} ms as OS user ${server.osUser}; data in ${server.dataDir}, removed at the end${binaries})`,
  );
  return () => standIn.close();
}
