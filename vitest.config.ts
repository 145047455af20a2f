import { defineConfig } from 'vitest/config';

// Three projects: fast unit tests; workflow tests on Temporal's time-skipping server with stand-in activities
// (no Postgres; the global setup only installs the Temporal binaries); and integration tests that talk to
// real Postgres, real Temporal servers, real sockets. Integration files run one at a time (each starts its own
// Temporal server; the machine is small).
// The fault suite (tests/fault: processes killed, servers restarted mid-batch) runs with the integration settings.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'workflow',
          include: ['tests/workflow/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
          globalSetup: ['tests/helpers/global-setup.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts', 'tests/e2e/**/*.test.ts', 'tests/fault/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          // the Temporal binaries, and an embedded Postgres when none answers
          globalSetup: ['tests/helpers/global-setup.ts', 'tests/helpers/global-postgres.ts'],
          // every log line of each file is scanned for secrets (and echoed only when TEST_LOG_LEVEL is set)
          setupFiles: ['tests/helpers/log-scan.ts'],
        },
      },
    ],
  },
});
