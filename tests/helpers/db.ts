import { createScratchDatabase, type ScratchDatabase } from '../../src/local/scratch-database.js';

const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export type TestDatabase = ScratchDatabase;

/** A database of the suite's own, with a random name, migrated unless told; dropped at the end (afterAll). */
export function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  return createScratchDatabase({ serverUrl: ADMIN_URL, prefix: 'storycheck_test', max: 20, ...options });
}
