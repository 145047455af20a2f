/**
 * BatchQueueWorkflow: the singleton runner (workflow id `batch-queue`), started by signal-with-start from the
 * API, and by any worker that finds Postgres holding work while no run is open (src/queue/watch.ts). Each
 * turn claims the next batch in Postgres (priority, then position; or the batch already marked running,
 * after a restart) and runs it as a child BatchWorkflow, strictly one at a time. With nothing to run it
 * sleeps until woken; the workers' queue watch and its own periodic look at Postgres repair a lost wake.
 *
 * It continues-as-new only between batches (a child is terminated when its parent continues-as-new), after a
 * fixed number of batches or when the server suggests it.
 *
 * A change of the pool (`poolChanged`: a proxy or session added, enabled or recovered) is passed on to the
 * batch it runs, if any: the runner has a fixed id, so the API and the health schedule need not know which
 * batch that is.
 */
import {
  condition,
  continueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import { batchWorkflow } from './batch.js';
import { batchStaticDetails, batchSummary } from './run-description.js';
import { BatchIdAttribute, BatchStatusAttribute } from './search-attributes.js';
import { poolChangedSignal, QUEUE_WORKFLOW_ID, wakeSignal } from './signals.js';

type Activities = ReturnType<typeof createActivities>;

export { QUEUE_WORKFLOW_ID };
const BATCHES_PER_RUN = 50;
const IDLE_RECHECK = '10 minutes';
const MAX_HISTORY_WHEN_IDLE = 2_000;

export interface QueueWorkflowInput {
  batchesRun?: number;
}

function describe(err: unknown): string {
  let e: unknown = err;
  // the useful sentence is at the bottom of the chain (child → activity → application failure)
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  if (e instanceof Error) return e.message || e.name;
  return String(err);
}

/** The signal is only a hint: a run that has ended, or has not started yet, reads the pool afresh anyway. */
async function passOnPoolChange(childWorkflowId: string): Promise<void> {
  try {
    await getExternalWorkflowHandle(childWorkflowId).signal(poolChangedSignal);
  } catch (err) {
    log.info('pool change not passed on to the batch run', { workflowId: childWorkflowId, reason: describe(err) });
  }
}

export async function batchQueueWorkflow(input: QueueWorkflowInput = {}): Promise<void> {
  const { claimNextBatch, failBatch } = proxyActivities<Activities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  let woken = false;
  setHandler(wakeSignal, () => void (woken = true));
  /** The workflow id of the batch being run, while one is. */
  let runningChild: string | null = null;
  setHandler(poolChangedSignal, () => {
    if (runningChild) void passOnPoolChange(runningChild);
  });
  let batchesRun = input.batchesRun ?? 0;
  let runsHere = 0;

  for (;;) {
    woken = false;
    const claim = await claimNextBatch();
    if (!claim) {
      if (workflowInfo().historyLength > MAX_HISTORY_WHEN_IDLE || workflowInfo().continueAsNewSuggested) {
        return continueAsNew<typeof batchQueueWorkflow>({ batchesRun });
      }
      await condition(() => woken, IDLE_RECHECK);
      continue;
    }
    const label = { batchId: claim.batchId, name: claim.name, totalProfiles: claim.totalProfiles };
    runningChild = claim.workflowId;
    try {
      await executeChild(batchWorkflow, {
        workflowId: claim.workflowId,
        args: [{ batchId: claim.batchId, settings: claim.settings, label }],
        // what the Web UI lists the batch run as
        staticSummary: batchSummary(label),
        staticDetails: batchStaticDetails({ ...label, run: claim.run, chunkSize: claim.settings.chunkSize, concurrency: claim.settings.concurrency }),
        parentClosePolicy: ParentClosePolicy.TERMINATE,
        memo: { batch_name: claim.name, total_profiles: claim.totalProfiles, run: claim.run },
        ...(claim.settings.searchAttributes
          ? {
              typedSearchAttributes: [
                { key: BatchIdAttribute, value: claim.batchId },
                { key: BatchStatusAttribute, value: 'running' },
              ],
            }
          : {}),
      });
    } catch (err) {
      // an unexpected failure ends the batch as `error` and frees the runner for the next one
      await failBatch({ batchId: claim.batchId, message: describe(err) });
    } finally {
      runningChild = null;
    }
    batchesRun++;
    runsHere++;
    if (runsHere >= BATCHES_PER_RUN || workflowInfo().continueAsNewSuggested) {
      return continueAsNew<typeof batchQueueWorkflow>({ batchesRun });
    }
  }
}
