/**
 * The page of chunks a batch run sends next, with what bounds it: the batch's status, a held queue (noted as a
 * stall while it lasts), and how many requests the pool can carry now.
 */
import type { Config } from '../src/config.js';
import type { Sql } from '../src/db/sql.js';
import type { ProxyPool } from '../src/pool/pool.js';
import { nextChunks } from '../src/repos/batch-profiles.js';
import { readRunState } from '../src/repos/batches.js';
import { clearBlocked, noteBlocked } from '../src/repos/stalls.js';
import type { ChunkPage } from './types.js';

export interface LoadChunksInput {
  batchId: string;
  afterOrdinal: number;
  maxChunks: number;
  chunkSize: number;
}

export async function loadChunkPage(
  { sql, pool, config }: { sql: Sql; pool: ProxyPool; config: Config },
  input: LoadChunksInput,
): Promise<ChunkPage> {
  const { status, queuePaused, stalledReason, counts } = await readRunState(sql, input.batchId);
  // the stall as it stands once this read has noted or cleared the held queue (see stalls.ts)
  let stalled = status === 'running' ? stalledReason : null;
  if (status === 'running') {
    // a held queue is a reason the batch cannot send: noted here, on every re-read while held
    if (queuePaused) {
      const { stalled: heldTooLong } = await noteBlocked(sql, input.batchId, 'queue_held', new Date(), config.BATCH_STALL_AFTER_MS);
      stalled = heldTooLong ? 'queue_held' : null;
    } else {
      await clearBlocked(sql, input.batchId, new Date(), 'queue_held');
      if (stalled === 'queue_held') stalled = null;
    }
  }
  const page =
    input.maxChunks > 0 && status === 'running'
      ? await nextChunks(sql, input.batchId, input.afterOrdinal, input.chunkSize, input.maxChunks)
      : { chunks: [] };
  const { usable, sendSlots } = await pool.stats();
  return {
    chunks: page.chunks,
    status: status ?? 'missing',
    queuePaused,
    usableProxies: usable,
    // the window follows what the pool can carry now: proxies that rest or are disabled, and sessions, bound it
    sendSlots,
    stalledReason: stalled,
    counts,
  };
}
