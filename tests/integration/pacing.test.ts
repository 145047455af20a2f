/**
 * Pacing through the real checker, pool, proxy and simulator (no Temporal: the checker is plain code):
 * with PROXY_MIN_INTERVAL_MS matched to the upstream's per-address rate, a strict limit (burst 1) is met by
 * spacing requests, not discovered by 429s — within one chunk and across chunks on the same proxy.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CheckChunkResult } from '../../src/check/checker.js';
import { checkChunkUntilDone } from '../../src/check/until-done.js';
import { nextChunks } from '../../src/repos/batch-profiles.js';
import { makeRunningBatch, startStack, usernames, type Stack } from '../helpers/stack.js';

let stack: Stack | null = null;
afterEach(async () => {
  await stack?.close();
  stack = null;
});

/** Checks every chunk of a running batch in turn, waiting out each RetryLater as a retry policy would. */
async function checkAll(s: Stack, batchId: string, chunkSize: number): Promise<{ results: CheckChunkResult[]; waits: number }> {
  const { chunks } = await nextChunks(s.db.sql, batchId, 0, chunkSize, 100);
  const results: CheckChunkResult[] = [];
  let waits = 0;
  for (const [i, chunk] of chunks.entries()) {
    results.push(
      await checkChunkUntilDone(s.deps.checker, { batchId, profileIds: chunk.profileIds }, {
        holder: (attempt) => `chunk-${i}#${attempt}`,
        backoffMs: () => 100,
        retries: 50,
        onRetryLater: () => waits++,
      }),
    );
  }
  return { results, waits };
}

describe('pacing', () => {
  it('meets a strict per-proxy limit without a single 429 when paced', async () => {
    stack = await startStack({ proxies: 1, sim: { ratePerSecond: 10, burst: 1, retryAfter: 1 }, env: { PROXY_MIN_INTERVAL_MS: '160' } });
    const batch = await makeRunningBatch(stack, usernames(24));
    const started = Date.now();
    const { results } = await checkAll(stack, batch.id, 8);
    const elapsed = Date.now() - started;
    expect(results.every((r) => r.kind === 'done')).toBe(true);
    expect(results.reduce((n, r) => n + (r.kind === 'done' ? r.successful : 0), 0)).toBe(24);
    // 24 lookups + 3 stories requests through one proxy, 160 ms apart (a wide margin over the 100 ms the limit needs: proxy hops and a busy machine add jitter), across three leases
    expect(stack.sim.stats.requests).toBe(27);
    expect(stack.sim.stats.rateLimited).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(26 * 160);
  });

  it('without pacing the same work runs into the limit', async () => {
    stack = await startStack({
      proxies: 1,
      sim: { ratePerSecond: 10, burst: 1, retryAfter: false },
      env: { PROXY_MIN_INTERVAL_MS: '0', PROXY_COOLDOWN_MS: '150' },
    });
    const batch = await makeRunningBatch(stack, usernames(24));
    const { results } = await checkAll(stack, batch.id, 8);
    expect(results.reduce((n, r) => n + (r.kind === 'done' ? r.successful : 0), 0)).toBe(24);
    expect(stack.sim.stats.rateLimited).toBeGreaterThan(0);
    // each 429 rested the proxy, and the chunk waited for it and went on within the same attempt
    const [logged] = await stack.db.sql<{ n: number }[]>`
      select count(*)::int as n from batch_logs where batch_id = ${batch.id} and event_type = 'RATE_LIMITED'`;
    expect(logged!.n).toBe(stack.sim.stats.rateLimited);
  });

  it('at a slow pace an attempt sends nothing that could outlast it: the chunk goes on in the next attempt instead of timing out', async () => {
    stack = await startStack({ proxies: 1, sim: { latencyMs: 5 }, env: { PROXY_MIN_INTERVAL_MS: '1000', CHECK_TIMEOUT_MS: '1000', PROXY_LEASE_MS: '7000' } });
    const batch = await makeRunningBatch(stack, usernames(5));
    const { chunks } = await nextChunks(stack.db.sql, batch.id, 0, 5, 1);
    // a request needs up to 10 s for a slot, 5 s for its send time and 1 s to answer: 15.5 s leave room for none but
    // the first (every attempt sends at least one)
    const attempt = stack.deps.checker.checkChunk(
      { batchId: batch.id, profileIds: chunks[0]!.profileIds, holder: 'short-attempt#1' },
      { deadline: performance.now() + 15_500 },
    );
    await expect(attempt).rejects.toMatchObject({ name: 'RetryLater', reason: 'ProxiesBusy', message: expect.stringMatching(/used its time/) });
    expect(stack.sim.stats.requests).toBe(1);
    // the next attempt, with time enough, goes on from there
    const done = await stack.deps.checker.checkChunk({ batchId: batch.id, profileIds: chunks[0]!.profileIds, holder: 'long-attempt#2' });
    expect(done).toMatchObject({ kind: 'done', successful: 5 });
    expect(stack.sim.stats.requests).toBe(6);
  });
});
