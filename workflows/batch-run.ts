/**
 * One run of a BatchWorkflow as a small state machine (the shape of Temporal's safe-message-handlers sample):
 * the signal and query handlers only read or change `state`; a single loop, `run()`, makes every decision
 * that produces a command (page, send, wait, complete, continue-as-new), so the command sequence depends only
 * on the events recorded in history.
 *
 * Each chunk runs in a cancellation scope of its own, inside the run's `chunkScope` (which stopping cancels).
 * A pool change (`poolChanged`: a proxy or session added, enabled or recovered) cancels every chunk in
 * flight: one waiting out its retry delay (up to the end of the earliest proxy rest, 24 h at most) is cancelled
 * by the server at once and is sent again straight away; one actually running is not abandoned (its activity
 * waits for the cancellation to complete, and the activity ignores a plain cancellation), so its answer is
 * delivered and counted as usual.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import type { StallReason } from '../src/enums.js';
import { ChunkWindow, type PagedChunk } from './chunk-window.js';
import { chunkSummary, currentDetails, type RunState } from './run-description.js';
import { BatchStatusAttribute } from './search-attributes.js';
import type { BatchSettings, ChunkPage, StoredCounts } from '../activities/types.js';
import type { BatchOutcome, BatchProgress, BatchResult, BatchRunTotals, BatchWorkflowInput } from './types.js';

type Activities = ReturnType<typeof createActivities>;
export type BatchRunActivities = Pick<Activities, 'checkChunk' | 'loadChunks' | 'completeBatch'>;

/** The activities as a run calls them: a chunk goes with the summary the Web UI shows for it. */
export interface RunActivities extends Pick<BatchRunActivities, 'loadChunks' | 'completeBatch'> {
  checkChunk(input: Parameters<Activities['checkChunk']>[0], summary: string): ReturnType<Activities['checkChunk']>;
}

/** Chunks per run whatever their size: small chunks (e.g. CHECK_CHUNK_SIZE=1) must not grow the history. */
const MAX_CHUNKS_PER_RUN = 400;

/** How often a held queue is re-read when the settings do not say (runs started before `heldRecheckMs`). */
const DEFAULT_HELD_RECHECK_MS = 300_000;

/**
 * A run held by a paused queue continues-as-new once its history passes this many events: each re-read of
 * Postgres costs about 6, and a queue may stay held for weeks (the server ends a run at 51,200 events).
 */
const HELD_HISTORY_LIMIT = 500;

/** Marks runs that continue-as-new while held: runs recorded before it never did, and must replay as such. */
const HELD_CONTINUE_AS_NEW_PATCH = 'held-continue-as-new';

/**
 * Marks runs whose chunks a pool change may restart (their activities wait for a cancellation to complete).
 * Runs recorded before it let a cancelled chunk go at once, and must replay as such (see batch.ts).
 */
export const CHUNK_RESTART_PATCH = 'chunk-restart-on-pool-change';

/** A chunk in flight, in its own cancellation scope. */
interface ChunkFlight {
  readonly chunk: PagedChunk;
  readonly scope: CancellationScope;
  /** A pool change cancelled it: its end, unless it was an answer, sends it again. */
  restarted: boolean;
}

/**
 * Whether a chunk cancelled by a pool change ended only its wait, and may simply be sent again: it was
 * cancelled, or failed in a way its retry policy would have retried had the cancellation not stopped the retries.
 */
function endedOnlyItsWait(err: unknown): boolean {
  if (isCancellation(err)) return true;
  if (!(err instanceof ActivityFailure)) return false;
  return !(err.cause instanceof ApplicationFailure && err.cause.nonRetryable);
}

function heldRecheckMs(settings: BatchSettings): number {
  // inputs recorded before the setting existed lack it
  return (settings as Partial<BatchSettings>).heldRecheckMs ?? DEFAULT_HELD_RECHECK_MS;
}

type StopReason = 'paused' | 'cancelled' | 'stopped';

export interface BatchRunOptions {
  /**
   * Whether a pool change restarts the chunks in flight: only when they were scheduled to wait for a
   * cancellation to complete, so that a running chunk is never abandoned and sent twice.
   */
  restartsOnPoolChange?: boolean;
}

/** What a run ends with: the batch's result, or the input of the next run. */
export type RunEnd = { result: BatchResult } | { continueWith: BatchWorkflowInput };

const emptyTotals = (): BatchRunTotals => ({ successful: 0, failed: 0, storiesFound: 0, requests: 0, chunks: 0, runs: 0 });

export class BatchRun {
  readonly state: {
    /** Ordinal of the last profile handed out: the next page starts after it. */
    cursor: number;
    totals: BatchRunTotals;
    /** Set once, by a signal, a stored status or a chunk that found the batch no longer running. */
    stop: StopReason | null;
    queuePaused: boolean;
    /** A chunk came back deferred: the queue was held when it tried, but may have resumed since. */
    recheckQueue: boolean;
    /** Every unfinished profile after the cursor has been paged. */
    exhausted: boolean;
    /** Profiles and chunks handed out by this run (bounded, to keep the history short). */
    handedOut: number;
    chunksHere: number;
    /** The first unexpected chunk failure: the batch ends as `error`. */
    unexpected: unknown;
    /** Why the batch sends nothing, as of the last page read. */
    stalledReason: StallReason | null;
    /** The batch's stored counters at this run's first page read, when nothing was in flight yet. */
    countsAtStart: StoredCounts | null;
    /** How the run ended, once it has. */
    ended: BatchOutcome | null;
  };
  /** The totals carried in from the runs before this one (what `countsAtStart` already includes). */
  private readonly totalsBefore: BatchRunTotals;
  readonly window = new ChunkWindow();

  /** Every chunk runs in this scope: stopping cancels chunks still waiting out a retry delay (which can be
   * an hour-long proxy rest), so a paused or cancelled batch frees the runner at once (a chunk actually
   * running ends at its next check of the stored status, and what it got is kept). */
  private readonly chunkScope = new CancellationScope();
  /** The chunks in flight, each in a scope of its own inside `chunkScope`. */
  private readonly flights = new Set<ChunkFlight>();

  constructor(
    private readonly input: BatchWorkflowInput,
    private readonly activities: RunActivities,
    private readonly options: BatchRunOptions = {},
  ) {
    const totals = input.totals ?? emptyTotals();
    this.totalsBefore = totals;
    this.state = {
      cursor: input.cursor ?? 0,
      totals: { ...totals, runs: totals.runs + 1 },
      stop: null,
      queuePaused: false,
      recheckQueue: false,
      exhausted: false,
      handedOut: 0,
      chunksHere: 0,
      unexpected: null,
      stalledReason: null,
      countsAtStart: null,
      ended: null,
    };
  }

  // --- handlers: state changes only ---

  requestStop(why: StopReason): void {
    if (this.state.stop) return;
    this.state.stop = why;
    this.chunkScope.cancel();
    this.showDetails();
  }

  /**
   * Proxies or sessions came back: every chunk in flight is cancelled, so that one waiting for the pool is
   * sent again now instead of at the end of its wait. One that is running finishes as it would have.
   */
  poolChanged(): void {
    if (!this.options.restartsOnPoolChange || this.state.stop || this.state.unexpected) return;
    for (const flight of this.flights) {
      if (flight.restarted) continue;
      flight.restarted = true;
      flight.scope.cancel();
    }
  }

  setQueuePaused(paused: boolean): void {
    this.state.queuePaused = paused;
    this.showDetails();
  }

  progress(): BatchProgress {
    const { stop, queuePaused, cursor, totals } = this.state;
    const { inFlight, size } = this.window;
    return {
      batchId: this.input.batchId,
      state: stop ? (inFlight ? 'stopping' : 'finished') : queuePaused ? 'queue_paused' : 'running',
      inFlightChunks: inFlight,
      windowSize: size,
      cursor,
      totals,
    };
  }

  /**
   * The run's current details in the Web UI (progress, state, stall), refreshed whenever one of them changes.
   * The batch's counts are its stored ones at this run's start plus what this run's chunks have recorded
   * since: a batch started again after a pause shows everything checked, not only this run's share.
   */
  private showDetails(): void {
    const { stop, queuePaused, totals, countsAtStart, stalledReason, ended } = this.state;
    const since = (key: 'successful' | 'failed' | 'storiesFound') => totals[key] - this.totalsBefore[key];
    const counts = countsAtStart
      ? {
          successful: countsAtStart.successful + since('successful'),
          failed: countsAtStart.failed + since('failed'),
          storiesFound: countsAtStart.storiesFound + since('storiesFound'),
        }
      : { successful: totals.successful, failed: totals.failed, storiesFound: totals.storiesFound };
    const state: RunState = ended ?? (stop ? 'stopping' : queuePaused ? 'queue held' : 'running');
    setCurrentDetails(
      currentDetails({
        ...counts,
        ...(this.input.label ? { label: this.input.label } : {}),
        ...(countsAtStart ? { totalProfiles: countsAtStart.totalProfiles } : {}),
        state,
        chunksInFlight: this.window.inFlight,
        stalledReason: ended ? null : stalledReason,
      }),
    );
  }

  // --- the loop ---

  async run(): Promise<RunEnd> {
    this.setSearchStatus('running');
    this.showDetails();
    for (;;) {
      const held = await this.fillWindow();
      // let in-flight checks finish and persist; chunks they sent back while the queue was held go round again
      await this.drain();
      if (this.state.unexpected) throw this.state.unexpected;
      if (held === 'held too long' && !this.state.stop) return this.continueHeld();
      if (this.state.stop || !(this.window.hasDeferred || this.window.hasRestarted)) break;
    }
    return this.finish();
  }

  /**
   * Sends chunks while the window has room, until the run has handed out its share, all is sent, it stops,
   * or it has been held long enough to need a fresh history.
   */
  private async fillWindow(): Promise<'held too long' | undefined> {
    const { state, window } = this;
    for (;;) {
      if (state.stop || state.unexpected) return;
      if (state.recheckQueue) {
        state.recheckQueue = false;
        await this.loadPage(0);
        continue;
      }
      if (state.queuePaused) {
        if (this.heldTooLong()) return 'held too long';
        await this.waitWhileHeld();
        continue;
      }
      if (window.hasRestarted) {
        if (await this.waitForRoom()) this.launch(window.takeRestarted());
        continue;
      }
      if (window.hasDeferred) {
        if (await this.waitForRoom()) this.launch(window.takeDeferred());
        continue;
      }
      if (!window.hasReady && !state.exhausted) {
        if (this.handedOutEnough()) return;
        const page = await this.loadPage(Math.max(this.input.settings.concurrency * 2, 4));
        // a chunk in flight for every request the usable proxies may carry, so one is ready when a slot opens
        window.size = Math.max(1, Math.min(this.input.settings.concurrency, page.sendSlots ?? page.usableProxies ?? 1));
        window.addPage(page.chunks, state.cursor);
        if (page.chunks.length === 0) state.exhausted = true;
        continue;
      }
      if (!window.hasReady) return; // exhausted: everything handed out
      if (await this.waitForRoom()) this.handOut(window.takeReady());
    }
  }

  /** This run's share is handed out: the rest goes to a fresh run with a short history. */
  private handedOutEnough(): boolean {
    const { state } = this;
    return (
      state.handedOut >= this.input.settings.profilesPerRun ||
      state.chunksHere >= MAX_CHUNKS_PER_RUN ||
      workflowInfo().continueAsNewSuggested
    );
  }

  /** A page of chunks after the cursor (none with `maxChunks` 0), and the stored batch and queue status. */
  private async loadPage(maxChunks: number): Promise<ChunkPage> {
    const { batchId, settings } = this.input;
    const page = await this.activities.loadChunks({ batchId, afterOrdinal: this.state.cursor, maxChunks, chunkSize: settings.chunkSize });
    this.applyStoredStatus(page.status);
    this.state.queuePaused = page.queuePaused;
    // pages recorded before they carried the stall and the counters have neither
    this.state.stalledReason = page.stalledReason ?? null;
    if (page.counts && !this.state.countsAtStart) this.state.countsAtStart = page.counts;
    this.showDetails();
    return page;
  }

  /**
   * Until the queue resumes or the batch stops. Postgres is re-read now and then, in case a resume signal was
   * lost (and so that the page load can record the batch as held).
   */
  private async waitWhileHeld(): Promise<void> {
    const { state } = this;
    const resumed = await condition(
      () => !state.queuePaused || state.stop !== null || state.unexpected !== null,
      heldRecheckMs(this.input.settings),
    );
    if (!resumed) await this.loadPage(0);
  }

  /** Held with nothing in flight and a history grown long: go on holding in a fresh run. */
  private heldTooLong(): boolean {
    if (this.window.inFlight > 0) return false;
    const { historyLength, continueAsNewSuggested } = workflowInfo();
    return (historyLength >= HELD_HISTORY_LIMIT || continueAsNewSuggested) && patched(HELD_CONTINUE_AS_NEW_PATCH);
  }

  /**
   * The next run of a held batch. Deferred chunks are unfinished in Postgres but lie before the cursor: the
   * cursor goes back to before the first of them, so the next run pages them again (finished profiles in
   * between are skipped by the page query).
   */
  private continueHeld(): RunEnd {
    const { cursor, totals } = this.state;
    return { continueWith: { ...this.carried(), cursor: this.window.cursorCovering(cursor), totals } };
  }

  /** True when a chunk may be sent now; otherwise waits for a change worth looking at again and returns false. */
  private async waitForRoom(): Promise<boolean> {
    const { state, window } = this;
    if (!window.full) return true;
    await condition(() => !window.full || state.stop !== null || state.queuePaused || state.recheckQueue || state.unexpected !== null);
    return false;
  }

  /** Until every chunk in flight has ended, or one restarted by a pool change is waiting to be sent again. */
  private async drain(): Promise<void> {
    await condition(() => this.window.inFlight === 0 || (this.window.hasRestarted && !this.state.stop));
  }

  private handOut(chunk: PagedChunk): void {
    this.state.cursor = chunk.lastOrdinal;
    this.state.handedOut += chunk.profileIds.length;
    this.state.chunksHere++;
    this.launch(chunk);
  }

  private launch(chunk: PagedChunk): void {
    const { batchId } = this.input;
    const { profileIds, firstUsername, lastUsername } = chunk;
    const summary = chunkSummary({ profiles: profileIds.length, firstUsername, lastUsername });
    this.window.inFlight++;
    this.state.totals.chunks++;
    this.showDetails();
    const flight: ChunkFlight = { chunk, scope: new CancellationScope({ cancellable: true, parent: this.chunkScope }), restarted: false };
    this.flights.add(flight);
    flight.scope
      .run(() => this.activities.checkChunk({ batchId, profileIds }, summary))
      .then((result) => this.onChunkResult(chunk, result))
      .catch((err: unknown) => this.onChunkFailure(flight, err))
      .finally(() => {
        this.flights.delete(flight);
        this.window.inFlight--;
        this.showDetails();
      });
  }

  private onChunkResult(chunk: PagedChunk, result: Awaited<ReturnType<Activities['checkChunk']>>): void {
    const { totals } = this.state;
    if (result.kind === 'done') {
      totals.successful += result.successful;
      totals.failed += result.failed;
      totals.storiesFound += result.storiesFound;
      totals.requests += result.requests;
    } else if (result.kind === 'deferred') {
      // not `queuePaused = true`: a resume signal may already have arrived; Postgres says which
      this.state.recheckQueue = true;
      this.window.defer(chunk);
    } else {
      this.applyStoredStatus(result.status);
    }
  }

  private onChunkFailure(flight: ChunkFlight, err: unknown): void {
    // a chunk cancelled because the batch stopped is not a failure: its profiles stay unfinished (nor is one
    // whose cancellation was awaited and that then ended otherwise, timed out with its worker gone, say)
    if (this.state.stop && (isCancellation(err) || flight.scope.consideredCancelled)) return;
    if (this.state.unexpected) return;
    if (flight.restarted && endedOnlyItsWait(err)) {
      // its wait was cut short by a pool change: sent again at once (its finished profiles are skipped then)
      this.window.restart(flight.chunk);
      return;
    }
    // the batch will end as `error`: do not wait for other chunks' retry delays either
    this.state.unexpected = err;
    this.chunkScope.cancel();
  }

  private applyStoredStatus(status: string): void {
    if (status === 'running') return;
    this.requestStop(status === 'paused' || status === 'cancelled' ? status : 'stopped');
  }

  private async finish(): Promise<RunEnd> {
    const { batchId } = this.input;
    const { stop, exhausted, cursor, totals } = this.state;
    let outcome: BatchOutcome;
    if (stop) {
      outcome = stop;
    } else if (exhausted && !this.window.hasReady) {
      const status = await this.activities.completeBatch({ batchId });
      outcome = status === 'done' ? 'done' : status === 'paused' || status === 'cancelled' ? status : 'stopped';
    } else {
      // more to do: a fresh run with a short history, starting after the last chunk handed out
      return { continueWith: { ...this.carried(), cursor, totals } };
    }
    this.state.ended = outcome;
    this.showDetails();
    this.setSearchStatus(outcome === 'stopped' ? 'running' : outcome);
    return { result: { batchId, outcome, totals } };
  }

  /** What every run of the batch is given: its id, settings and label. */
  private carried(): Pick<BatchWorkflowInput, 'batchId' | 'settings' | 'label'> {
    const { batchId, settings, label } = this.input;
    return label ? { batchId, settings, label } : { batchId, settings };
  }

  private setSearchStatus(status: string): void {
    if (this.input.settings.searchAttributes) upsertSearchAttributes([{ key: BatchStatusAttribute, value: status }]);
  }
}
