/**
 * The worker of the product: the workflows and the activities over the check dependencies, polling one task
 * queue. `npm run worker` runs it as a process of its own (src/worker/main.ts); the dev launcher, the tests
 * and the benchmark create it in their own process.
 *
 * Webhook deliveries have a task queue of their own (`<task queue>-webhooks`) and a worker of their own beside
 * it (createWebhookWorker), with WEBHOOK_CONCURRENCY slots: a tick that announces thousands of stories starts
 * thousands of delivery workflows, and on the batches' queue their tasks would wait ahead of the next batch's and
 * take its chunks' activity slots.
 */
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import { createWebhookDeliveryActivities } from '../../activities/webhook-delivery.js';
import type { Config } from '../config.js';
import type { CheckDependencies } from './dependencies.js';
import { activityLogContext } from './log-context.js';
import { bundleWorkflows, WORKFLOWS_PATH } from './workflow-bundle.js';


export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  config: Config;
  deps: CheckDependencies;
  /** Workflow code bundled ahead (tests bundle once per run); otherwise config.WORKFLOW_BUNDLE, or bundled now. */
  workflowBundle?: { code: string } | { codePath: string };
}

/** Where the worker takes its workflow code from: a bundle built ahead when there is one. */
function workflowSource(options: WorkerOptions): { workflowBundle: { code: string } | { codePath: string } } | { workflowsPath: string } {
  if (options.workflowBundle) return { workflowBundle: options.workflowBundle };
  if (options.config.WORKFLOW_BUNDLE) return { workflowBundle: { codePath: options.config.WORKFLOW_BUNDLE } };
  return { workflowsPath: WORKFLOWS_PATH };
}

export async function createWorker(options: WorkerOptions): Promise<Worker> {
  const { deps, config } = options;
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...workflowSource(options),
    activities: createActivities({
      sql: deps.sql,
      pool: deps.pool,
      checker: deps.checker,
      health: deps.health,
      config,
      logger: deps.logger,
      temporal: deps.temporal,
    }),
    // every line logged inside an activity carries its batch and Temporal ids
    interceptors: { activity: [activityLogContext] },
    // each in-flight chunk holds one slot (see WORKER_ACTIVITY_SLOTS for the default)
    maxConcurrentActivityTaskExecutions: config.WORKER_ACTIVITY_SLOTS,
    shutdownGraceTime: '20 seconds',
  });
}

/** The task queue of the webhook deliveries of the workers that poll `taskQueue`. */
export function webhookTaskQueue(taskQueue: string): string {
  return `${taskQueue}-webhooks`;
}

/** The worker of the webhook deliveries: their workflow and activities, on webhookTaskQueue(taskQueue). */
async function createWebhookWorker(options: WorkerOptions): Promise<Worker> {
  const { deps, config } = options;
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: webhookTaskQueue(options.taskQueue),
    ...workflowSource(options),
    activities: createWebhookDeliveryActivities({ sql: deps.sql, config, logger: deps.logger }),
    interceptors: { activity: [activityLogContext] },
    maxConcurrentActivityTaskExecutions: config.WEBHOOK_CONCURRENCY,
    shutdownGraceTime: '20 seconds',
  });
}

/**
 * The two workers of a worker process: the checks' and the webhook deliveries'. They run the same workflow code,
 * bundled once here unless it was given or WORKFLOW_BUNDLE has it built ahead.
 */
export async function createWorkers(options: WorkerOptions): Promise<{ worker: Worker; webhookWorker: Worker }> {
  const source = workflowSource(options);
  const workflowBundle = 'workflowBundle' in source ? source.workflowBundle : { code: (await bundleWorkflows()).code };
  const shared = { ...options, workflowBundle };
  return { worker: await createWorker(shared), webhookWorker: await createWebhookWorker(shared) };
}
