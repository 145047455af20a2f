/**
 * A batch as BatchWorkflow's activities see it, kept in memory: numbered profiles (`p1`..`pN`, ordinal N), the
 * batch's stored status, the queue's hold, and which profiles are checked. The stand-ins answer as the
 * product's activities do (pages of unfinished profiles after a cursor, chunks deferred while the queue is
 * held), so that the workflow's own decisions can be tested on the time-skipping server without Postgres.
 */
import { Context } from '@temporalio/activity';
import { expect } from 'vitest';
import type { BatchRunActivities } from '../../workflows/batch-run.js';
import type { BatchSettings, ChunkPage } from '../../activities/types.js';

export const settings = (overrides: Partial<BatchSettings> = {}): BatchSettings => ({
  chunkSize: 5,
  concurrency: 1,
  profilesPerRun: 2_000,
  retry: { initialIntervalMs: 1_000, maximumIntervalMs: 10_000, backoffCoefficient: 2 },
  // chunks held back by a test must not time out
  chunkTimeoutMs: 600_000,
  heartbeatTimeoutMs: 600_000,
  heldRecheckMs: 60_000,
  searchAttributes: false,
  ...overrides,
});

/**
 * A batch of `size` profiles (`p1`..`pN`, ordinal N, username `user_N`) as the activities see it in Postgres:
 * its status, the queue's hold, its stall, and which profiles are checked. Every third profile has a story.
 */
export class StandInBatch {
  status: ChunkPage['status'] = 'running';
  queuePaused = false;
  stalledReason: ChunkPage['stalledReason'] = null;
  readonly checked = new Map<string, number>();
  /** Every chunk sent, whatever it answered. */
  readonly chunksSent: string[][] = [];
  /** Each page read: the run that read it and the cursor it read after. */
  readonly pageReads: Array<{ runId: string; afterOrdinal: number }> = [];
  /** While set, every chunk sent after the first `after` waits for `until` before checking (a slow upstream). */
  holdUp: { after: number; until: Promise<void> } | null = null;
  /** Chunks that learned they were cancelled while held up. */
  cancelledChunks = 0;

  constructor(readonly size: number) {}

  get storiesExpected(): number {
    return Math.floor(this.size / 3);
  }

  readonly activities: BatchRunActivities = {
    loadChunks: async ({ afterOrdinal, maxChunks, chunkSize }): Promise<ChunkPage> => {
      this.pageReads.push({ runId: Context.current().info.workflowExecution?.runId ?? '', afterOrdinal });
      const unfinished: number[] = [];
      for (let n = afterOrdinal + 1; n <= this.size && unfinished.length < maxChunks * chunkSize; n++) {
        if (!this.checked.has(`p${n}`)) unfinished.push(n);
      }
      const chunks: ChunkPage['chunks'] = [];
      if (this.status === 'running') {
        for (let i = 0; i < unfinished.length; i += chunkSize) {
          const ordinals = unfinished.slice(i, i + chunkSize);
          const [first, last] = [ordinals[0]!, ordinals[ordinals.length - 1]!];
          chunks.push({ profileIds: ordinals.map((n) => `p${n}`), lastOrdinal: last, firstUsername: `user_${first}`, lastUsername: `user_${last}` });
        }
      }
      const successful = this.checked.size;
      const storiesFound = [...this.checked.keys()].filter((id) => Number(id.slice(1)) % 3 === 0).length;
      return {
        chunks,
        status: this.status,
        queuePaused: this.queuePaused,
        usableProxies: 2,
        stalledReason: this.stalledReason,
        counts: { totalProfiles: this.size, successful, failed: 0, storiesFound },
      };
    },
    checkChunk: async ({ profileIds }) => {
      const sent = this.chunksSent.push(profileIds);
      if (this.holdUp && sent > this.holdUp.after) await this.heldUp(this.holdUp.until);
      if (this.status !== 'running') return { kind: 'stopped', status: this.status };
      if (this.queuePaused) return { kind: 'deferred' };
      for (const id of profileIds) this.checked.set(id, (this.checked.get(id) ?? 0) + 1);
      const storiesFound = profileIds.filter((id) => Number(id.slice(1)) % 3 === 0).length;
      return { kind: 'done', successful: profileIds.length, failed: 0, storiesFound, requests: 1 };
    },
    completeBatch: async () => {
      this.status = 'done';
      return this.status;
    },
  };

  /**
   * Waits for `until`, heartbeating as the product's chunks do, so that a cancelled chunk learns it and ends
   * (the time-skipping server does not skip time while an activity is still out).
   */
  private async heldUp(until: Promise<void>): Promise<void> {
    const ctx = Context.current();
    const beat = setInterval(() => ctx.heartbeat(), 100);
    try {
      await Promise.race([until, ctx.cancelled]);
    } catch (err) {
      this.cancelledChunks++;
      throw err;
    } finally {
      clearInterval(beat);
    }
  }

  /** Every profile checked exactly once. */
  expectEachCheckedOnce(): void {
    expect(this.checked.size).toBe(this.size);
    expect([...this.checked.values()].every((n) => n === 1)).toBe(true);
  }
}

/** A promise and the function that settles it. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
