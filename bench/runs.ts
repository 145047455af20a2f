/**
 * How a scenario's batch is run. Each workflow scenario creates a batch (createBatch), claims it
 * (claimNextBatch) and runs BatchWorkflow (workflows/batch.ts) to completion through the client, timed from
 * start to result; the in-process ones run the same checker (`createChecker(...).checkChunk`) as a plain loop,
 * without Temporal. Every run is bounded by its scenario's time limit.
 */
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { WorkflowHandle } from '@temporalio/client';
import { batchSettings } from '../activities/index.js';
import type { Checker } from '../src/check/checker.js';
import { loadConfig } from '../src/config.js';
import { checkChunkUntilDone } from '../src/check/until-done.js';
import { nextChunks } from '../src/repos/batch-profiles.js';
import { completeBatch, failBatch } from '../src/repos/queue.js';
import { withTimeout } from '../src/process/timeouts.js';
import { batchWorkflow } from '../workflows/batch.js';
import { QUEUE_WORKFLOW_ID } from '../workflows/batch-queue.js';
import type { BatchResult } from '../workflows/types.js';
import type { ScenarioSpec } from './figures.js';
import { say, type World } from './world.js';

export interface Run {
  seconds: number;
  runs: number | null;
  historyLengths: number[] | null;
  /** The chunk activities' times from the workflow histories (workflow runs only). */
  chunkTimings?: ChunkTimings;
  retryLater?: number;
}

/** Fails the batch of a run that failed: frees the runner for the next scenario (claimNextBatch would hand this batch out again). */
export async function releaseFailedBatch(world: World, batchId: string, err: unknown): Promise<void> {
  if (!world.interrupted.aborted) await failBatch(world.db.sql, batchId, `benchmark: ${(err as Error).message}`).catch(() => {});
}

/** Throws unless the batch ended done with all of its `profiles` checked; `label` starts the error's message. */
export async function expectBatchDone(world: World, batchId: string, profiles: number, label?: string): Promise<void> {
  const [facts] = await world.db.sql<{ status: string; successful_checks: number; failed_checks: number }[]>`
    select status, successful_checks, failed_checks from batches where id = ${batchId}`;
  if (facts?.status !== 'done' || facts.successful_checks !== profiles) {
    const ended = `batch ended ${facts?.status} with ${facts?.successful_checks}/${profiles} checked, ${facts?.failed_checks} failed`;
    throw new Error(label ? `${label}: ${ended}` : ended);
  }
}

/** Ends the queue runner an API of the bench woke on its unpolled task queue. */
export async function stopApiQueueRunner(world: World): Promise<void> {
  await world.env.client.workflow.getHandle(QUEUE_WORKFLOW_ID).terminate('benchmark: scenario over').catch(() => {});
}

/** `promise`, bounded by the scenario's time limit. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return withTimeout(promise, ms, `${what} did not finish within ${Math.round(ms / 1000)} s`);
}

/** Prints progress every 15 s while `promise` runs. */
async function withProgress<T>(world: World, name: string, batchId: string, promise: Promise<T>): Promise<T> {
  const started = performance.now();
  const timer = setInterval(() => {
    world.db.sql<{ n: number }[]>`select (successful_checks + failed_checks)::int as n from batches where id = ${batchId}`
      .then(([row]) => {
        const s = (performance.now() - started) / 1000;
        say(
          `  ${name}: ${row?.n ?? 0}/${world.profileIds.length} checked after ${s.toFixed(0)} s; ` +
            `${world.sim.stats.requests} requests, ${world.sim.stats.rateLimited} rate limited`,
        );
      })
      .catch(() => {});
  }, 15_000);
  timer.unref();
  try {
    return await promise;
  } finally {
    clearInterval(timer);
  }
}

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

/** The events of every run of a workflow chain (continue-as-new), in order. */
async function chainHistories(world: World, workflowId: string, firstRunId: string): Promise<HistoryEvent[][]> {
  const runs: HistoryEvent[][] = [];
  let runId: string | null | undefined = firstRunId;
  for (let i = 0; runId && i < 10_000; i++) {
    const history: History = await world.env.client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events: HistoryEvent[] = history.events ?? [];
    runs.push(events);
    runId = events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
  }
  return runs;
}

type HistoryEvent = NonNullable<History['events']>[number];

const eventMs = (e: HistoryEvent | undefined): number | null => {
  const t = e?.eventTime;
  return t ? Number(t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6) : null;
};

/** Per chunk activity, as the server recorded it: waiting for a worker to pick it up, and running. */
export interface ChunkTimings {
  chunks: number;
  /** Scheduled → started: the activity task's way through the server to a worker. */
  scheduleToStartMs: number;
  /** Started → completed: the activity itself, as the server saw it. */
  startToCloseMs: number;
  /** Completed → the next workflow task completed: the workflow's turn to react (and send the next chunk). */
  completionToNextTaskMs: number;
}

function chunkTimings(runs: HistoryEvent[][]): ChunkTimings {
  let chunks = 0;
  let toStart = 0;
  let toClose = 0;
  let toNext = 0;
  for (const events of runs) {
    const byId = new Map(events.map((e) => [Number(e.eventId), e]));
    events.forEach((e, i) => {
      const done = e.activityTaskCompletedEventAttributes;
      if (!done) return;
      const scheduled = byId.get(Number(done.scheduledEventId));
      if (scheduled?.activityTaskScheduledEventAttributes?.activityType?.name !== 'checkChunk') return;
      const started = byId.get(Number(done.startedEventId));
      const next = events.slice(i + 1).find((later) => later.workflowTaskCompletedEventAttributes);
      const [s, st, c, n] = [eventMs(scheduled), eventMs(started), eventMs(e), eventMs(next)];
      if (s === null || st === null || c === null) return;
      chunks++;
      toStart += st - s;
      toClose += c - st;
      toNext += n === null ? 0 : n - c;
    });
  }
  const avg = (ms: number) => (chunks ? Math.round((ms / chunks) * 10) / 10 : 0);
  return { chunks, scheduleToStartMs: avg(toStart), startToCloseMs: avg(toClose), completionToNextTaskMs: avg(toNext) };
}

/** BatchWorkflow to completion through the client, bounded by `limitMs`. */
export async function runWorkflow(world: World, spec: ScenarioSpec, batch: { batchId: string; workflowId: string }, limitMs: number): Promise<Run> {
  // the settings the claim activity would record, with this scenario's CHECK_CHUNK_SIZE
  const settings = batchSettings(
    loadConfig({
      ...world.baseEnv,
      CHECK_CHUNK_SIZE: String(spec.chunkSize),
      ...(spec.concurrency ? { BATCH_CONCURRENCY: String(spec.concurrency) } : {}),
    }),
  );
  const started = performance.now();
  const handle = await world.env.client.workflow.start(batchWorkflow, {
    taskQueue: world.taskQueue,
    workflowId: batch.workflowId,
    args: [{ batchId: batch.batchId, settings }],
  });
  let result: BatchResult;
  try {
    result = await within(withProgress(world, spec.name, batch.batchId, Promise.race([handle.result(), world.workerDone])), limitMs, spec.name);
  } catch (err) {
    await handle.terminate('benchmark: time limit').catch(() => {});
    throw err;
  }
  const seconds = (performance.now() - started) / 1000;
  if (result.outcome !== 'done') throw new Error(`the batch workflow ended ${result.outcome}`);
  const histories = await chainHistories(world, batch.workflowId, handle.firstExecutionRunId);
  return { seconds, runs: result.totals.runs, historyLengths: histories.map((h) => h.length), chunkTimings: chunkTimings(histories) };
}

/**
 * The same checker as the activity, as a plain loop: `concurrency` chunks at once, each retried after
 * RetryLater's delay (or the configured backoff when it names none), as the activity's retry would.
 */
export async function runInProcess(
  world: World,
  name: string,
  checker: Checker,
  batch: { batchId: string },
  chunkSize: number,
  concurrency: number,
  limitMs: number,
): Promise<Run> {
  const { config } = world;
  const sql = world.db.sql;
  const abort = new AbortController();
  // every lane waits on it (for a slot, for a send time) at once
  setMaxListeners(0, abort.signal);
  world.interrupted.addEventListener('abort', () => abort.abort(new Error('interrupted')), { once: true });
  const started = performance.now();
  const { chunks } = await nextChunks(sql, batch.batchId, 0, chunkSize, Math.ceil(world.profileIds.length / chunkSize) + 1);
  let next = 0;
  let retryLater = 0;
  const backoffMs = (attempt: number) =>
    Math.min(config.CHECK_MAX_INTERVAL_MS, config.CHECK_INITIAL_INTERVAL_MS * config.CHECK_BACKOFF ** (attempt - 1));

  const lane = async (laneNo: number) => {
    while (next < chunks.length && !abort.signal.aborted) {
      const index = next++;
      const chunk = chunks[index]!;
      const result = await checkChunkUntilDone(checker, { batchId: batch.batchId, profileIds: chunk.profileIds }, {
        holder: (attempt) => `bench/${laneNo}/${index}#${attempt}`,
        backoffMs,
        signal: abort.signal,
        onRetryLater: () => retryLater++,
      });
      if (result.kind !== 'done') throw new Error(`chunk ${index}: ${result.kind}`);
    }
  };
  const lanes = Array.from({ length: concurrency }, (_, i) => lane(i));
  try {
    await within(withProgress(world, name, batch.batchId, Promise.all(lanes)), limitMs, name);
  } catch (err) {
    abort.abort(err);
    await Promise.allSettled(lanes);
    throw err;
  }
  await completeBatch(sql, batch.batchId);
  return { seconds: (performance.now() - started) / 1000, runs: null, historyLengths: null, retryLater };
}
