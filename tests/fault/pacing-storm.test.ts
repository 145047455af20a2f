/**
 * The real source's storm of random 429s against the real stack (a Temporal dev server, real Postgres, the
 * simulator behind real forward proxies): learned pacing must not take random refusals for a limit and slow the
 * proxies down to a crawl. The rates it learns are the rates the proxies reached, so the file runs alone, after
 * the rest of the suite: beside other files a busy CPU would slow the proxies, not the pacing.
 */
import { describe, expect, it } from 'vitest';
import { batchSettings } from '../../activities/index.js';
import { makeRunningBatch, usernames, type Stack, type StackOptions } from '../helpers/stack.js';
import { withStackWorker } from '../helpers/stack-worker.js';
import { expectExactlyOnce } from '../helpers/invariants.js';
import { localServer, startBatch } from '../helpers/workflow.js';

const server = localServer();

const withWorker = <T>(options: StackOptions, fn: (stack: Stack, taskQueue: string) => Promise<T>) =>
  withStackWorker(server.env, server.bundle, { ...options, prefix: 'pacing-storm' }, fn);

async function proxyStates(stack: Stack) {
  return stack.db.sql<{ url: string; status: string; learned_rate_per_s: number | null }[]>`
    select url, status, learned_rate_per_s from proxies order by url`;
}

describe('against the real source', () => {
  it('a storm of 30% random 429s and 5% errors with learned pacing (no PROXY_MIN_INTERVAL_MS) does not slow the proxies down to a crawl', async () => {
    await withWorker(
      {
        proxies: 3,
        sim: { ratePerSecond: 10, rateLimitShare: 0.3, errorRate: 0.05, retryAfter: true },
        env: { CHECK_INITIAL_INTERVAL_MS: '500', CHECK_MAX_INTERVAL_MS: '5000', BATCH_CONCURRENCY: '3' },
      },
      async (stack, taskQueue) => {
        // enough requests for every proxy's trials to conclude and undo the back-offs random 429s caused
        const batch = await makeRunningBatch(stack, usernames(240));
        const run = await startBatch(server.env, taskQueue, { batchId: batch.id, settings: batchSettings(stack.config) });
        const result = await run.result();
        expect(result.outcome).toBe('done');
        await expectExactlyOnce(stack.db.sql, batch.id, 240);
        expect(stack.sim.stats.rateLimited).toBeGreaterThan(20);
        // random 429s are not the pace's fault: no proxy learned a crawl (the old learning sat at 0.4 to 0.7/s).
        // A proxy that concludes a limit learns the rate it reached meanwhile: 1.5/s or more in every run seen,
        // so the floor is well above the crawl and below what a sound run may learn
        for (const p of await proxyStates(stack)) {
          expect(p.status).not.toBe('disabled');
          if (p.learned_rate_per_s !== null) expect(p.learned_rate_per_s).toBeGreaterThan(1.2);
        }
      },
    );
  });
});
