import { randomUUID } from 'node:crypto';
import type { LogLevel as SdkLogLevel } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { findTemporalBinaries } from '../../src/local/temporal-binaries.js';
import { EAGER_ACTIVITIES_ARGS } from '../../src/local/temporal-server.js';
import { freeLoopbackAddress } from '../../src/metrics/temporal-exporter.js';
import { installTemporalRuntime, temporalMetricsUrl } from '../../src/process/temporal-runtime.js';
import { searchAttributeKeys } from '../../workflows/search-attributes.js';

/**
 * Routes the SDK's logs through the project's logger (so the whole-run secret scan sees them too), at
 * TEST_TEMPORAL_LOG_LEVEL (default ERROR, which keeps test output quiet). Once per process, before any
 * worker or server: the first call decides.
 */
export function quietTemporalRuntime(level: SdkLogLevel = (process.env.TEST_TEMPORAL_LOG_LEVEL as SdkLogLevel | undefined) ?? 'ERROR'): void {
  installTemporalRuntime({ level, to: 'logger', signals: true });
}

/**
 * As quietTemporalRuntime, with the SDK's Prometheus exporter on a free loopback port; returns its URL. Must
 * be the first install of the test process (null otherwise: the runtime installed has no exporter).
 */
export async function quietTemporalRuntimeWithMetrics(): Promise<string | null> {
  installTemporalRuntime({
    level: (process.env.TEST_TEMPORAL_LOG_LEVEL as SdkLogLevel | undefined) ?? 'ERROR',
    to: 'logger',
    signals: true,
    metricsBindAddress: await freeLoopbackAddress(),
  });
  return temporalMetricsUrl();
}

/** Time-skipping environment on the project-provided test server (SDK download only as a fallback). */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietTemporalRuntime();
  const { testServer } = findTemporalBinaries();
  return TestWorkflowEnvironment.createTimeSkipping(
    testServer ? { server: { executable: { type: 'existing-path', path: testServer } } } : undefined,
  );
}

/**
 * A real dev server (in-memory) on the project-provided CLI, with the product's search attributes and eager
 * activity execution on, as `npm run dev` runs it.
 */
export async function createLocalEnv(): Promise<TestWorkflowEnvironment> {
  quietTemporalRuntime();
  const { cli } = findTemporalBinaries();
  return TestWorkflowEnvironment.createLocal({
    server: {
      ...(cli ? { executable: { type: 'existing-path' as const, path: cli } } : {}),
      searchAttributes: searchAttributeKeys,
      extraArgs: ['--log-level', 'error', ...EAGER_ACTIVITIES_ARGS],
    },
  });
}

/** A fresh task queue and workflow id per test. */
export function uniqueIds(prefix = 'test'): { taskQueue: string; workflowId: string } {
  const id = randomUUID().slice(0, 8);
  return { taskQueue: `${prefix}-tq-${id}`, workflowId: `${prefix}-wf-${id}` };
}
