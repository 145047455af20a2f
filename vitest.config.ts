import { defineConfig } from 'vitest/config';

// The projects:
// - unit: pure and fast;
// - workflow: Temporal's time-skipping server with stand-in activities (no Postgres);
// - integration: real Postgres, real Temporal servers, real sockets, browsers and child processes (tests/integration
//   and tests/e2e). Their files run side by side: each has its own database, task queues, ports and servers, and
//   most of their time is spent waiting on those, not on the CPU;
// - fault: processes killed and servers restarted mid-batch, each file its own. They run after the others (their
//   timings are their own, not those of a browser or a fuzzer beside them), side by side too;
// - fault-alone: the Postgres restart, last and alone: every file's connections would go down with it.
// The workflow code is bundled once for the whole run (tests/helpers/global-setup.ts).
const POSTGRES_RESTART = 'tests/fault/postgres-restart.test.ts';

const integrationSettings = {
  testTimeout: 120_000,
  hookTimeout: 180_000,
  // the Temporal binaries and the run's workflow bundle; an embedded Postgres when none answers
  globalSetup: ['tests/helpers/global-setup.ts', 'tests/helpers/global-postgres.ts'],
  // every log line of each file is scanned for secrets (and echoed only when TEST_LOG_LEVEL is set)
  setupFiles: ['tests/helpers/log-scan.ts'],
};

export default defineConfig({
  test: {
    // files at once: the machine's cores, and one more, since integration files mostly wait
    maxWorkers: 3,
    projects: [
      {
        test: { name: 'unit', include: ['tests/unit/**/*.test.ts'], testTimeout: 20_000 },
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
        test: { name: 'integration', include: ['tests/integration/**/*.test.ts', 'tests/e2e/**/*.test.ts'], ...integrationSettings },
      },
      {
        test: { name: 'fault', include: ['tests/fault/**/*.test.ts'], exclude: [POSTGRES_RESTART], ...integrationSettings, sequence: { groupOrder: 1 } },
      },
      {
        test: { name: 'fault-alone', include: [POSTGRES_RESTART], ...integrationSettings, sequence: { groupOrder: 2 } },
      },
    ],
  },
});
