/**
 * Workers and BatchWorkflow runs on a test file's Temporal server, in the manner of the SDK's own integration
 * helpers: a worker polls a fresh task queue only while the test's body runs, and a batch runs under the
 * workflow id the product gives it.
 */
import type { WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { LogLevel as SdkLogLevel } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll } from 'vitest';
import type { BatchRunActivities } from '../../workflows/batch-run.js';
import { batchWorkflow } from '../../workflows/batch.js';
import type { BatchResult, BatchWorkflowInput } from '../../workflows/types.js';
import { createLocalEnv, createTimeSkippingEnv, quietTemporalRuntime, uniqueIds } from './temporal.js';
import { sharedWorkflowBundle } from './workflow-bundle.js';

/** A test file's Temporal server, and the workflow bundle of the run. */
export interface FileServer {
  readonly env: TestWorkflowEnvironment;
  readonly bundle: WorkflowBundleWithSourceMap;
}

export interface TimeSkippingServerOptions {
  /**
   * The level the SDK's own lines go through the logger at (quietTemporalRuntime), for a file that reads
   * them. Only the first runtime installed in a process counts: the file must start no worker or server before.
   */
  sdkLogLevel?: SdkLogLevel;
}

/**
 * A time-skipping server and the product's workflows bundled, for one test file: started in beforeAll, torn
 * down in afterAll.
 */
export function timeSkippingServer(options: TimeSkippingServerOptions = {}): FileServer {
  return serverForFile('time-skipping server', () => {
    if (options.sdkLogLevel) quietTemporalRuntime(options.sdkLogLevel);
    return createTimeSkippingEnv();
  });
}

/**
 * A dev server on the real clock (the product's search attributes, eager activities on, as `npm run dev` runs
 * it) and the product's workflows bundled, for one test file: started in beforeAll, torn down in afterAll.
 */
export function localServer(): FileServer {
  return serverForFile('dev server', createLocalEnv);
}

function serverForFile(what: string, start: () => Promise<TestWorkflowEnvironment>): FileServer {
  let started: { env: TestWorkflowEnvironment; bundle: WorkflowBundleWithSourceMap } | undefined;
  beforeAll(async () => {
    started = { env: await start(), bundle: sharedWorkflowBundle() };
  });
  afterAll(async () => {
    await started?.env.teardown();
  });
  const get = () => {
    if (!started) throw new Error(`the ${what} is not started (used outside a test?)`);
    return started;
  };
  return {
    get env() {
      return get().env;
    },
    get bundle() {
      return get().bundle;
    },
  };
}

export interface WithWorkerOptions {
  /** The activities the workflows call: stand-ins written in the test, or the product's own. */
  activities: Partial<BatchRunActivities> & object;
  /** Workflow code bundled ahead; the run's bundle (tests/helpers/workflow-bundle.ts) otherwise. */
  bundle?: WorkflowBundleWithSourceMap;
  /** Names the task queue, to tell the tests' queues apart on a shared server. */
  prefix?: string;
}

/** Runs `fn` while a worker of the product's workflows and the given activities polls a fresh task queue. */
export async function withWorker<T>(
  env: TestWorkflowEnvironment,
  options: WithWorkerOptions,
  fn: (taskQueue: string) => Promise<T>,
): Promise<T> {
  const { taskQueue } = uniqueIds(options.prefix ?? 'wf');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    workflowBundle: options.bundle ?? sharedWorkflowBundle(),
    activities: options.activities,
  });
  return worker.runUntil(fn(taskQueue));
}

/** Starts a BatchWorkflow for `input.batchId` as the queue runner would (workflow id `batch-<id>`). */
export function startBatch(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  input: BatchWorkflowInput,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof batchWorkflow>> {
  return env.client.workflow.start(batchWorkflow, { taskQueue, workflowId: `batch-${input.batchId}`, args: [input] });
}

/** Runs a BatchWorkflow to its end (through every continue-as-new) and gives its result. */
export async function executeBatch(env: TestWorkflowEnvironment, taskQueue: string, input: BatchWorkflowInput): Promise<BatchResult> {
  const handle: WorkflowHandle<typeof batchWorkflow> = await startBatch(env, taskQueue, input);
  return handle.result();
}
