/**
 * The real source's ways, each against the real stack (a Temporal dev server, real Postgres, the simulator behind
 * real forward proxies) and the exact end state: a login redirect once the only session is refused, a checkpoint
 * on one of two sessions, an address the source refuses, a stored token that cannot be sent, and a slow pace that
 * leaves chunks waiting (a storm of random 429s has a file of its own: pacing-storm.test.ts). No profile that exists is failed by any of them:
 * each answer is charged to its owner (src/check/failure-policy.ts).
 */
import { describe, expect, it } from 'vitest';
import { batchSettings } from '../../activities/index.js';
import { toApiBatch } from '../../src/api/present.js';
import { getBatch } from '../../src/repos/batches.js';
import { setProxyStatus } from '../../src/repos/proxies.js';
import { createSession, getSession } from '../../src/repos/sessions.js';
import { eventCounts, makeRunningBatch, usernames, type Stack, type StackOptions } from '../helpers/stack.js';
import { withStackWorker } from '../helpers/stack-worker.js';
import { expectExactlyOnce } from '../helpers/invariants.js';
import { localServer, startBatch } from '../helpers/workflow.js';
import { waitFor } from '../helpers/wait.js';

const server = localServer();

const withWorker = <T>(options: StackOptions, fn: (stack: Stack, taskQueue: string) => Promise<T>) =>
  withStackWorker(server.env, server.bundle, { ...options, prefix: 'real-source' }, fn);

/** Starts the batch workflow of an already running batch, as the queue runner would. */
const startRunning = (stack: Stack, taskQueue: string, batchId: string) =>
  startBatch(server.env, taskQueue, { batchId, settings: batchSettings(stack.config) });

async function checkedAtLeast(stack: Stack, batchId: string, n: number): Promise<void> {
  await waitFor(async () => (await getBatch(stack.db.sql, batchId)).successful_checks >= n, 30_000);
}

async function proxyStates(stack: Stack) {
  return stack.db.sql<{ url: string; status: string; disabled_reason: string | null; learned_rate_per_s: number | null }[]>`
    select url, status, disabled_reason, learned_rate_per_s from proxies order by url`;
}

describe('against the real source', () => {
  it('once the only session is refused, logged-out requests are redirected to log in: the batch waits for a session, fails nothing, and goes on once one is added', async () => {
    await withWorker(
      {
        proxies: 2,
        sim: { loggedOutReels: 'redirect', latencyMs: 5 },
        env: { CHECK_CHUNK_SIZE: '10', BATCH_CONCURRENCY: '2', BATCH_STALL_AFTER_MS: '2000' },
      },
      async (stack, taskQueue) => {
        const first = await createSession(stack.db.sql, { token: 'first-session-token' });
        const batch = await makeRunningBatch(stack, usernames(120));
        const run = await startRunning(stack, taskQueue, batch.id);
        await checkedAtLeast(stack, batch.id, 20);
        // the source logs the session out: 401 login_required for it, then 302 to the login page without it
        stack.sim.setOptions({ invalidSessions: ['first-session-token'] });
        await waitFor(async () => (await getSession(stack.db.sql, first.id)).status === 'invalid', 30_000);
        await waitFor(async () => toApiBatch(await getBatch(stack.db.sql, batch.id)).stalled_reason === 'no_valid_session', 30_000);
        expect(stack.sim.stats.redirects).toBeGreaterThan(0);
        await createSession(stack.db.sql, { token: 'second-session-token' });
        expect((await run.result()).outcome).toBe('done');
        await expectExactlyOnce(stack.db.sql, batch.id, 120);
        const events = await eventCounts(stack, batch.id);
        expect(events.SESSION_INVALIDATED).toBe(1);
        expect(events.BATCH_STALLED).toBe(1);
      },
    );
  });

  it('a checkpoint on one of two sessions invalidates that session at once and fails no profile', async () => {
    await withWorker(
      { proxies: 2, sim: { requireSession: true, checkpointStatus: 400, latencyMs: 5 }, env: { CHECK_CHUNK_SIZE: '10', BATCH_CONCURRENCY: '2' } },
      async (stack, taskQueue) => {
        const flagged = await createSession(stack.db.sql, { token: 'session-to-checkpoint' });
        const fine = await createSession(stack.db.sql, { token: 'session-that-stays' });
        const batch = await makeRunningBatch(stack, usernames(100));
        const run = await startRunning(stack, taskQueue, batch.id);
        await checkedAtLeast(stack, batch.id, 10);
        stack.sim.setOptions({ checkpointSessions: ['session-to-checkpoint'] });
        expect((await run.result()).outcome).toBe('done');
        await expectExactlyOnce(stack.db.sql, batch.id, 100);
        expect((await getSession(stack.db.sql, flagged.id)).status).toBe('invalid');
        expect((await getSession(stack.db.sql, fine.id)).status).toBe('valid');
        const logs = await stack.db.sql<{ details: { refusal: string } }[]>`
          select details from batch_logs where batch_id = ${batch.id} and event_type = 'SESSION_INVALIDATED'`;
        expect(logs.map((l) => l.details.refusal)).toEqual(['checkpoint']);
      },
    );
  });

  it('a proxy whose address the source refuses (403) rests, then is disabled as blocked; its requests go through the others and no profile fails', async () => {
    await withWorker(
      { proxies: 3, sim: { latencyMs: 5 }, env: { CHECK_CHUNK_SIZE: '10', BATCH_CONCURRENCY: '3', PROXY_COOLDOWN_MS: '300' } },
      async (stack, taskQueue) => {
        const refused = stack.proxies.proxies[1]!;
        stack.sim.setOptions({ flaggedAddresses: [refused.localAddress] });
        const batch = await makeRunningBatch(stack, usernames(150));
        expect((await (await startRunning(stack, taskQueue, batch.id)).result()).outcome).toBe('done');
        await expectExactlyOnce(stack.db.sql, batch.id, 150);
        const states = await proxyStates(stack);
        expect(states.filter((p) => p.status === 'disabled').map((p) => p.disabled_reason)).toEqual(['blocked']);
        const events = await eventCounts(stack, batch.id);
        expect(events.PROXY_DISABLED).toBe(1);
        expect(stack.sim.stats.blocked).toBeGreaterThanOrEqual(2);
      },
    );
  });

  it('a stored session token that cannot be sent is the session\'s fault: invalidated, and never charged to a profile', async () => {
    await withWorker({ proxies: 2, sim: { requireSession: true, latencyMs: 5 }, env: { CHECK_CHUNK_SIZE: '10' } }, async (stack, taskQueue) => {
      // registered before tokens were checked: a line break pasted with the cookie
      const [broken] = await stack.db.sql<{ id: string }[]>`
        insert into sessions (token) values (${'pasted-token\r\nwith-a-line-break'}) returning id`;
      await createSession(stack.db.sql, { token: 'a-sendable-token' });
      const batch = await makeRunningBatch(stack, usernames(60));
      expect((await (await startRunning(stack, taskQueue, batch.id)).result()).outcome).toBe('done');
      await expectExactlyOnce(stack.db.sql, batch.id, 60);
      expect((await getSession(stack.db.sql, broken!.id)).status).toBe('invalid');
      // a profile's counted tries are its own answers only: one, the one that checked it
      const [worst] = await stack.db.sql<{ max: number }[]>`select max(attempts)::int as max from batch_profiles where batch_id = ${batch.id}`;
      expect(worst!.max).toBeLessThanOrEqual(1);
    });
  });

  it('at a 20 s pace, a chunk that cannot send waits for the earliest slot instead of trying again and again, also once a proxy is disabled', async () => {
    await withWorker(
      { proxies: 2, sim: { latencyMs: 5 }, env: { PROXY_MIN_INTERVAL_MS: '20000', CHECK_CHUNK_SIZE: '1', BATCH_CONCURRENCY: '3' } },
      async (stack, taskQueue) => {
        const names = usernames(3);
        const batch = await makeRunningBatch(stack, names);
        // ids already known: one request per chunk, so three chunks need three send slots on two proxies
        for (const name of names) {
          const profile = stack.sim.simulator.population.lookup(name)!;
          await stack.db.sql`update profiles set upstream_user_id = ${profile.userId} where username = ${name}`;
        }
        const run = await startRunning(stack, taskQueue, batch.id);
        await checkedAtLeast(stack, batch.id, 2);
        const [second] = await stack.db.sql<{ id: string }[]>`select id from proxies order by url desc limit 1`;
        await setProxyStatus(stack.db.sql, second!.id, 'disabled');
        expect((await run.result()).outcome).toBe('done');
        await expectExactlyOnce(stack.db.sql, batch.id, 3);
        // the third chunk waited about 20 s for its slot: one attempt that found every slot taken and came back when
        // the earliest one opened (trying again at once, a chunk makes an attempt per Temporal round trip)
        const history = await run.fetchHistory();
        const attempts = (history.events ?? []).flatMap((e) => (e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt ?? 1] : []));
        expect(Math.max(...attempts)).toBeLessThanOrEqual(3);
      },
    );
  });
});
