import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { findTemporalBinaries } from '../../scripts/temporal-binaries.js';
import { searchAttributeKeys } from '../../workflows/search-attributes.js';

let runtimeInstalled = false;

/** Keeps the SDK's own logs to warnings and errors (once per process, before any worker or server). */
export function quietTemporalRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = (process.env.TEST_TEMPORAL_LOG_LEVEL as 'WARN') ?? 'ERROR';
  Runtime.install({
    logger: new DefaultLogger(level),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: level }), forward: {} } },
  });
}

/** Time-skipping environment on the project-provided test server (SDK download only as a fallback). */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietTemporalRuntime();
  const { testServer } = findTemporalBinaries();
  return TestWorkflowEnvironment.createTimeSkipping(
    testServer ? { server: { executable: { type: 'existing-path', path: testServer } } } : undefined,
  );
}

/** A real dev server (in-memory) on the project-provided CLI, with the product's search attributes. */
export async function createLocalEnv(): Promise<TestWorkflowEnvironment> {
  quietTemporalRuntime();
  const { cli } = findTemporalBinaries();
  return TestWorkflowEnvironment.createLocal({
    server: {
      ...(cli ? { executable: { type: 'existing-path' as const, path: cli } } : {}),
      searchAttributes: searchAttributeKeys,
      extraArgs: ['--log-level', 'error'],
    },
  });
}

/** A fresh task queue and workflow id per test. */
export function uniqueIds(prefix = 'test'): { taskQueue: string; workflowId: string } {
  const id = randomUUID().slice(0, 8);
  return { taskQueue: `${prefix}-tq-${id}`, workflowId: `${prefix}-wf-${id}` };
}
