/**
 * The whole product in-process, for end-to-end files: a Temporal dev server of the file's own (with the
 * BatchId/BatchStatus search attributes), a stack (tests/helpers/stack.ts: database, simulator, proxies), a
 * worker on it and the API on a free port. `close()` stops it all, in the reverse order.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startApi, type RunningApi } from '../../src/api/server.js';
import { createLogger } from '../../src/logging/logger.js';
import { createWorker } from '../../src/worker/worker.js';
import { startStack, type Stack, type StackOptions } from './stack.js';
import { createLocalEnv, uniqueIds } from './temporal.js';
import { sharedWorkflowBundle } from './workflow-bundle.js';

export interface ServedStack {
  env: TestWorkflowEnvironment;
  stack: Stack;
  api: RunningApi;
  close(): Promise<void>;
}

export async function startServedStack(options: StackOptions & { prefix: string }): Promise<ServedStack> {
  const [env, stack] = await Promise.all([
    createLocalEnv(),
    startStack({ ...options, env: { TEMPORAL_TASK_QUEUE: uniqueIds(options.prefix).taskQueue, ...options.env } }),
  ]);
  const worker = await createWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
    config: stack.config,
    deps: stack.deps,
    workflowBundle: sharedWorkflowBundle(),
  });
  const workerRun = worker.run();
  const api = await startApi({ config: stack.config, sql: stack.db.sql, temporal: env.client, port: 0, logger: createLogger({ test: options.prefix }) });
  return {
    env,
    stack,
    api,
    async close() {
      await api.close();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await stack.close();
      await env.teardown();
    },
  };
}
