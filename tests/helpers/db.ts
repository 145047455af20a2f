import { createScratchDatabase, type ScratchDatabase } from '../../src/local/scratch-database.js';

/**
 * The server the tests create their databases on (as a superuser). When nothing answers there, the
 * integration project's global setup starts an embedded Postgres at that very address (global-postgres.ts).
 */
export const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export type TestDatabase = ScratchDatabase;

/** A database of the suite's own, with a random name, migrated unless told; dropped at the end (afterAll). */
export function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  return createScratchDatabase({ serverUrl: ADMIN_URL, prefix: 'storycheck_test', max: 20, ...options });
}
