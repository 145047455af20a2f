/**
 * A worker of the product for a fresh stack (tests/helpers/stack.ts) on a test file's Temporal server, with the
 * workflow bundle it is given: each call gets its own task queue, and the stack is torn down whatever happens.
 * Free of vitest, so that tests/fixtures/histories/record.ts runs it with plain tsx.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createWorker } from '../../src/worker/worker.js';
import { startStack, type Stack, type StackOptions } from './stack.js';
import { uniqueIds } from './temporal.js';

/** Runs `fn` with a worker for a fresh stack, then tears the stack down. */
export async function withStackWorker<T>(
  env: TestWorkflowEnvironment,
  bundle: WorkflowBundleWithSourceMap,
  options: StackOptions & { prefix?: string },
  fn: (stack: Stack, taskQueue: string) => Promise<T>,
): Promise<T> {
  const stack = await startStack(options);
  const { taskQueue } = uniqueIds(options.prefix ?? 'batch');
  try {
    const worker = await createWorker({
      connection: env.nativeConnection,
      namespace: 'default',
      taskQueue,
      config: stack.config,
      deps: stack.deps,
      workflowBundle: bundle,
    });
    return await worker.runUntil(fn(stack, taskQueue));
  } finally {
    await stack.close();
  }
}

/**
 * As withStackWorker, on a file's time-skipping server (timeSkippingServer in workflow.ts): the pool and checker
 * read the server's clock, so a proxy's rest ends exactly when Temporal has skipped past it.
 */
export function withTimeSkippingStackWorker<T>(
  server: { readonly env: TestWorkflowEnvironment; readonly bundle: WorkflowBundleWithSourceMap },
  options: StackOptions & { prefix?: string },
  fn: (stack: Stack, taskQueue: string) => Promise<T>,
): Promise<T> {
  const clock = async () => new Date(await server.env.currentTimeMs());
  return withStackWorker(server.env, server.bundle, { ...options, clock }, fn);
}
