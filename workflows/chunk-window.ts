/**
 * The bookkeeping of a batch run's sliding window: chunks paged from Postgres but not yet sent, chunks sent
 * back because the queue was held, chunks whose wait for the pool a pool change cut short, and how many are in
 * flight against how many may be. Plain data, no Temporal calls: the run decides when to page, send and wait.
 */
import type { Chunk } from '../activities/types.js';

/** A chunk as paged from Postgres, with the cursor it was paged after (where a fresh run must re-page it from). */
export interface PagedChunk extends Chunk {
  /** The cursor before it: every profile of the chunk has a greater ordinal. */
  afterOrdinal: number;
}

export class ChunkWindow {
  /** Chunks in flight may not exceed this: the configured concurrency, bounded by usable proxies. */
  size = 1;
  inFlight = 0;
  /** Paged, not yet sent (in ordinal order). */
  private readonly ready: PagedChunk[] = [];
  /** Sent back unchecked because the queue was held: they go again first once it resumes. */
  private readonly deferred: PagedChunk[] = [];
  /** Cut short while they waited for a proxy or session, because the pool changed: they go again at once. */
  private readonly restarted: PagedChunk[] = [];

  get full(): boolean {
    return this.inFlight >= this.size;
  }

  get hasReady(): boolean {
    return this.ready.length > 0;
  }

  get hasDeferred(): boolean {
    return this.deferred.length > 0;
  }

  get hasRestarted(): boolean {
    return this.restarted.length > 0;
  }

  addPage(chunks: ReadonlyArray<Chunk>, afterOrdinal: number): void {
    let after = afterOrdinal;
    for (const chunk of chunks) {
      this.ready.push({ ...chunk, afterOrdinal: after });
      after = chunk.lastOrdinal;
    }
  }

  takeReady(): PagedChunk {
    return this.ready.shift()!;
  }

  takeDeferred(): PagedChunk {
    return this.deferred.shift()!;
  }

  defer(chunk: PagedChunk): void {
    this.deferred.push(chunk);
  }

  takeRestarted(): PagedChunk {
    return this.restarted.shift()!;
  }

  restart(chunk: PagedChunk): void {
    this.restarted.push(chunk);
  }

  /**
   * The lowest cursor from which a fresh run re-pages every chunk sent back (deferred or restarted: they are
   * unfinished in Postgres).
   */
  cursorCovering(cursor: number): number {
    return [...this.deferred, ...this.restarted].reduce((lowest, chunk) => Math.min(lowest, chunk.afterOrdinal), cursor);
  }
}
