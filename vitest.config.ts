import { defineConfig } from 'vitest/config';

// The projects:
// - unit: pure and fast;
// - workflow: Temporal's time-skipping server, mostly with stand-in activities (the webhook delivery's runs the
//   product's activities on real Postgres, so an embedded one is started when none answers, as for integration);
// - integration: real Postgres, real Temporal servers, real sockets, browsers and child processes (tests/integration
//   and tests/e2e). Their files run side by side: each has its own database, task queues, ports and servers, and
//   most of their time is spent waiting on those, not on the CPU;
// - fault: processes killed and servers restarted mid-batch (each file restarts servers of its own: its Temporal
//   dev server, a throwaway Postgres). They run after the others (their timings are their own, not those of a
//   browser or a fuzzer beside them), four at a time: they mostly wait on heartbeat timeouts and restarts;
// - fault-alone: last and alone, the pacing storm: the rates it learns are the rates the proxies reach, which a
//   busy CPU would lower.
// The workflow code is bundled once for the whole run (tests/helpers/global-setup.ts).
const ALONE = ['tests/fault/pacing-storm.test.ts'];

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
          globalSetup: ['tests/helpers/global-setup.ts', 'tests/helpers/global-postgres.ts'],
        },
      },
      {
        test: { name: 'integration', include: ['tests/integration/**/*.test.ts', 'tests/e2e/**/*.test.ts'], ...integrationSettings },
      },
      {
        test: { name: 'fault', include: ['tests/fault/**/*.test.ts'], exclude: ALONE, ...integrationSettings, maxWorkers: 4, sequence: { groupOrder: 1 } },
      },
      {
        test: { name: 'fault-alone', include: ALONE, ...integrationSettings, fileParallelism: false, sequence: { groupOrder: 2 } },
      },
    ],
  },
});
