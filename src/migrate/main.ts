/** `npm run migrate`: applies the pending migrations to DATABASE_URL (migrate.ts); exit 1 when that fails. */
import { describeDbError } from '../db/sql.js';
import { migrate, MigrationChangedError } from './migrate.js';
import { redact } from '../logging/redact.js';
import { runMain } from '../process/run-main.js';

runMain(
  async ({ config }) => {
    try {
      const { applied } = await migrate(config.DATABASE_URL);
      console.log(applied.length ? `migrations applied: ${applied.join(', ')}` : 'migrations: up to date');
    } catch (err) {
      const reason = err instanceof MigrationChangedError ? err.message : describeDbError(err);
      console.error(redact(`migrate failed: ${reason}`));
      process.exit(1);
    }
  },
  { failure: (err) => redact(String((err as Error)?.message ?? err)) },
);
