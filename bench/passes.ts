/**
 * A source kept busy for as long as a measurement needs: batches of re-checks (BatchWorkflow, as every workflow
 * scenario runs them) one after the other, until stopped; the one running then is failed and terminated, and
 * the requests it still had in flight are waited for. Beside it, what the simulator answered, sampled every
 * 250 ms, so that any stretch of the run can be measured after the fact.
 */
import { performance } from 'node:perf_hooks';
import { batchSettings } from '../activities/index.js';
import { loadConfig } from '../src/config.js';
import { failBatch } from '../src/repos/queue.js';
import { batchWorkflow } from '../workflows/batch.js';
import { runningBatch, say, type World } from './world.js';

const SAMPLE_MS = 250;
/** How long the requests of a stopped batch get to end before the next measurement starts anyway. */
const DRAIN_MS = 30_000;

/** What the simulator had answered at one moment (ms since the sampler started). */
export interface Sample {
  atMs: number;
  requests: number;
  rateLimited: number;
  bucket: number;
  window: number;
  random: number;
}

/** The simulator's answers between two moments: requests, 429s (by cause) and the answers that were not 429. */
export interface Stretch {
  seconds: number;
  requests: number;
  rateLimited: number;
  byCause: { bucket: number; window: number; random: number };
  /** Requests not answered 429, per second. */
  okPerS: number;
}

export class Sampler {
  readonly samples: Sample[] = [];
  readonly #started = performance.now();
  readonly #timer: NodeJS.Timeout;

  constructor(private readonly world: World) {
    this.take();
    this.#timer = setInterval(() => this.take(), SAMPLE_MS);
    this.#timer.unref();
  }

  /** ms since the sampler started. */
  now(): number {
    return performance.now() - this.#started;
  }

  take(): Sample {
    const s = this.world.sim.stats;
    const sample = { atMs: this.now(), requests: s.requests, rateLimited: s.rateLimited, ...s.rateLimitedBy };
    this.samples.push(sample);
    return sample;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** The latest sample at or before `atMs`. */
  at(atMs: number): Sample {
    let found = this.samples[0]!;
    for (const s of this.samples) {
      if (s.atMs > atMs) break;
      found = s;
    }
    return found;
  }

  between(fromMs: number, toMs: number): Stretch {
    const a = this.at(fromMs);
    const b = this.at(toMs);
    const seconds = Math.max(0.001, (b.atMs - a.atMs) / 1000);
    const requests = b.requests - a.requests;
    const rateLimited = b.rateLimited - a.rateLimited;
    return {
      seconds,
      requests,
      rateLimited,
      byCause: { bucket: b.bucket - a.bucket, window: b.window - a.window, random: b.random - a.random },
      okPerS: (requests - rateLimited) / seconds,
    };
  }
}

export interface PassesReport {
  /** Batches started (the last one stopped part way). */
  passes: number;
  /** Profiles the finished batches recorded failed. */
  failedChecks: number;
  /** Profiles checked by the batches, the stopped one included. */
  checked: number;
}

export interface Passes {
  /** Rejects when a pass fails (never resolves otherwise): race a wait with it. */
  failed: Promise<never>;
  /** Stops the passes (once; later calls get the same report). */
  stop(): Promise<PassesReport>;
}

/** Starts batches over `profileIds` one after the other, with `chunkSize` profiles per stories request. */
export function startPasses(world: World, name: string, profileIds: string[], chunkSize: number): Passes {
  const settings = batchSettings(loadConfig({ ...world.baseEnv, CHECK_CHUNK_SIZE: String(chunkSize) }));
  const report: PassesReport = { passes: 0, failedChecks: 0, checked: 0 };
  let stopping = false;
  let stopped: () => void = () => {};
  const stopSignal = new Promise<void>((resolve) => (stopped = resolve));

  const loop = (async () => {
    while (!stopping && !world.interrupted.aborted) {
      const batch = await runningBatch(world, name, 0, profileIds);
      const handle = await world.env.client.workflow.start(batchWorkflow, {
        taskQueue: world.taskQueue,
        workflowId: batch.workflowId,
        args: [{ batchId: batch.batchId, settings }],
      });
      report.passes++;
      const ended = await Promise.race([handle.result().then(() => true), stopSignal.then(() => false), world.workerDone]);
      const [row] = await world.db.sql<{ failed: number; ok: number }[]>`
        select failed_checks as failed, successful_checks as ok from batches where id = ${batch.batchId}`;
      report.checked += (row?.ok ?? 0) + (row?.failed ?? 0);
      if (ended) {
        report.failedChecks += row?.failed ?? 0;
        continue;
      }
      // stopped part way: the batch is failed (its chunks stop at their next request) and its workflow terminated
      await failBatch(world.db.sql, batch.batchId, 'benchmark: measurement over').catch(() => {});
      await handle.terminate('benchmark: measurement over').catch(() => {});
    }
  })();
  const failed = loop.then(() => new Promise<never>(() => {}));
  failed.catch(() => {});
  let stopping_: Promise<PassesReport> | null = null;
  const stop = async (): Promise<PassesReport> => {
    stopping = true;
    stopped();
    await loop;
    await drain(world, name);
    return report;
  };
  return { failed, stop: () => (stopping_ ??= stop()) };
}

/** Waits until no request holds a slot (those of a stopped batch end on their own), at most DRAIN_MS. */
async function drain(world: World, name: string): Promise<void> {
  const started = performance.now();
  for (;;) {
    const [row] = await world.db.sql<{ n: number }[]>`select count(*)::int as n from proxy_slots`;
    if (!row || row.n === 0) return;
    if (performance.now() - started > DRAIN_MS) {
      say(`  ${name}: ${row.n} requests still held a slot ${DRAIN_MS / 1000} s after the batch stopped`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
