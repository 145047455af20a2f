/**
 * The worker of the product: the workflows and the activities over the check dependencies, polling one task
 * queue. `npm run worker` runs it as a process of its own (src/worker/main.ts); the dev launcher, the tests
 * and the benchmark create it in their own process.
 */
import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import type { Config } from '../config.js';
import type { CheckDependencies } from './dependencies.js';
import { activityLogContext } from './log-context.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  config: Config;
  deps: CheckDependencies;
  /** Pre-bundled workflow code (tests bundle once per file). */
  workflowBundle?: { code: string };
}

export async function createWorker(options: WorkerOptions): Promise<Worker> {
  const { deps, config } = options;
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({ sql: deps.sql, pool: deps.pool, checker: deps.checker, health: deps.health, config }),
    // every line logged inside an activity carries its batch and Temporal ids
    interceptors: { activity: [activityLogContext] },
    // each in-flight chunk holds one slot (see WORKER_ACTIVITY_SLOTS for the default)
    maxConcurrentActivityTaskExecutions: config.WORKER_ACTIVITY_SLOTS,
    shutdownGraceTime: '20 seconds',
  });
}
