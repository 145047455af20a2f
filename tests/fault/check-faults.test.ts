/**
 * Faults that are not crashes, each against the real stack (a Temporal dev server, real Postgres, the
 * simulator behind real forward proxies): a storm of rate limits and errors, profiles that do not exist,
 * poison answers, a store that refuses a result, an upstream outage, a source that wants a login, a held
 * queue. Each ends with the exactly-once invariant of tests/helpers/invariants.ts.
 */
import { describe, expect, it } from 'vitest';
import { batchSettings } from '../../activities/index.js';
import { ensureProxyHealthSchedule } from '../../src/worker/health-schedule.js';
import { toApiBatch } from '../../src/api/present.js';
import { getBatch } from '../../src/repos/batches.js';
import { setQueuePaused } from '../../src/repos/queue.js';
import { recordSuccesses } from '../../src/repos/batch-profiles.js';
import { createProxy, deleteProxy } from '../../src/repos/proxies.js';
import { createSession } from '../../src/repos/sessions.js';
import { startSimulator, type RunningSimulator } from '../../src/simulator/app.js';
import { batchWorkflow } from '../../workflows/batch.js';
import { PROXY_HEALTH_SCHEDULE_ID } from '../../workflows/proxy-health.js';
import { queuePausedSignal } from '../../workflows/signals.js';
import { eventCounts, makeRunningBatch, startStack, usernames, type Stack, type StackOptions } from '../helpers/stack.js';
import { withStackWorker } from '../helpers/stack-worker.js';
import { expectExactlyOnce } from '../helpers/invariants.js';
import { uniqueIds } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';
import { localServer } from '../helpers/workflow.js';

const server = localServer();

const withWorker = <T>(options: StackOptions, fn: (stack: Stack, taskQueue: string) => Promise<T>) =>
  withStackWorker(server.env, server.bundle, { ...options, prefix: 'fault' }, fn);

/** Runs the batch workflow of an already running batch to its end. */
async function runBatch(stack: Stack, taskQueue: string, batchId: string) {
  return server.env.client.workflow.execute(batchWorkflow, {
    taskQueue,
    workflowId: `batch-${batchId}-${uniqueIds().workflowId}`,
    args: [{ batchId, settings: batchSettings(stack.config) }],
  });
}

/** A stall is about a running batch: a finished one shows none. */
async function expectNoStall(stack: Stack, batchId: string): Promise<void> {
  const batch = toApiBatch(await getBatch(stack.db.sql, batchId));
  expect([batch.stalled_reason, batch.stalled_since]).toEqual([null, null]);
}

describe('faults that are not crashes', () => {
  it('a profile that does not exist is asked once: its answer is kept even when a rate limit interrupts the chunk', async () => {
    await withWorker({ proxies: 2, sim: { ratePerSecond: 3, burst: 3, retryAfter: true } }, async (stack, taskQueue) => {
      const names = usernames(50);
      const missing = usernames(3, 'missing');
      const batch = await makeRunningBatch(stack, [...names.slice(0, 20), ...missing, ...names.slice(20)]);
      const result = await runBatch(stack, taskQueue, batch.id);
      expect(result.outcome).toBe('done');
      await expectExactlyOnce(stack.db.sql, batch.id, 53, { failedUsernames: missing });
      // every username was looked up exactly once, missing or not, although the limit interrupted chunks
      expect(stack.sim.stats.rateLimited).toBeGreaterThan(0);
      for (const name of [...names, ...missing]) expect(stack.sim.stats.lookupsByUsername[name]).toBe(1);
      const failures = await stack.db.sql<{ error: string }[]>`
        select error from batch_profiles where batch_id = ${batch.id} and status = 'failed'`;
      expect(failures.every((f) => f.error.startsWith('profile_not_found:'))).toBe(true);
    });
  });

  it('a storm of 30% rate limits and 5% errors fails no profile that exists, and counts each exactly once', async () => {
    await withWorker(
      {
        proxies: 3,
        sim: { ratePerSecond: 10, rateLimitShare: 0.3, errorRate: 0.05, retryAfter: true },
        env: { PROXY_MIN_INTERVAL_MS: '100', CHECK_INITIAL_INTERVAL_MS: '500', CHECK_MAX_INTERVAL_MS: '5000', BATCH_CONCURRENCY: '3' },
      },
      async (stack, taskQueue) => {
        const batch = await makeRunningBatch(stack, usernames(150));
        const result = await runBatch(stack, taskQueue, batch.id);
        expect(result.outcome).toBe('done');
        await expectExactlyOnce(stack.db.sql, batch.id, 150);
        expect(stack.sim.stats.rateLimited).toBeGreaterThan(20);
        expect(stack.sim.stats.faults.errors).toBeGreaterThan(0);
        // nothing was disabled: a rate limit and an upstream error are not the proxy's fault
        const [disabled] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from proxies where status = 'disabled'`;
        expect(disabled!.n).toBe(0);
        // a profile is charged only for the errors of its own requests
        const [worst] = await stack.db.sql<{ max: number }[]>`
          select max(attempts)::int as max from batch_profiles where batch_id = ${batch.id}`;
        expect(worst!.max).toBeLessThan(stack.config.CHECK_MAX_ATTEMPTS);
      },
    );
  });

  it('poison answers end: a 400 or a 500 holding a NUL byte is the source misbehaving, retried, and fails its profile after CHECK_MAX_ATTEMPTS tries', async () => {
    const names = usernames(10);
    const [refused, broken] = usernames(2, 'poison');
    await withWorker(
      {
        proxies: 2,
        sim: { overrides: { [refused!]: { poison: '400' }, [broken!]: { poison: '500' } } },
        env: { CHECK_MAX_ATTEMPTS: '3' },
      },
      async (stack, taskQueue) => {
        const batch = await makeRunningBatch(stack, [refused!, ...names, broken!]);
        const result = await runBatch(stack, taskQueue, batch.id);
        expect(result.outcome).toBe('done');
        await expectExactlyOnce(stack.db.sql, batch.id, 12, { failedUsernames: [refused!, broken!] });
        expect(stack.sim.stats.lookupsByUsername[refused!]).toBe(3);
        expect(stack.sim.stats.lookupsByUsername[broken!]).toBe(3);
        const failed = await stack.db.sql<{ username: string; attempts: number; details: { error_type: string; error_message: string } }[]>`
          select p.username, bp.attempts, l.details from batch_profiles bp
          join profiles p on p.id = bp.profile_id
          join batch_logs l on l.batch_id = bp.batch_id and l.profile_id = bp.profile_id and l.event_type = 'CHECK_FAILED'
          where bp.batch_id = ${batch.id} order by p.username`;
        expect(failed.map((f) => [f.username, f.attempts, f.details.error_type])).toEqual(
          [[broken, 3, 'upstream_error'], [refused, 3, 'upstream_error']].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
        );
        for (const f of failed) expect(f.details.error_message).not.toContain('\u0000');
      },
    );
  });

  it('a result the store refuses still counts as a try: the profile ends CHECK_FAILED instead of looping', async () => {
    const names = usernames(5);
    const [cursed] = usernames(1, 'cursed');
    await withWorker({ proxies: 1, env: { CHECK_MAX_ATTEMPTS: '3' } }, async (stack, taskQueue) => {
      // a deterministic failure after the answer: the database refuses to store this profile's user id
      await stack.db.sql.unsafe(`
        create function refuse_cursed() returns trigger language plpgsql as $$
        begin
          if new.username = '${cursed}' and new.upstream_user_id is not null then
            raise exception 'refusing to store %', new.username;
          end if;
          return new;
        end $$;
        create trigger refuse_cursed before update on profiles for each row execute function refuse_cursed();`);
      const batch = await makeRunningBatch(stack, [...names, cursed!]);
      const result = await runBatch(stack, taskQueue, batch.id);
      expect(result.outcome).toBe('done');
      await expectExactlyOnce(stack.db.sql, batch.id, 6, { failedUsernames: [cursed!] });
      expect(stack.sim.stats.lookupsByUsername[cursed!]).toBe(3);
      const [row] = await stack.db.sql<{ attempts: number; error: string }[]>`
        select bp.attempts, bp.error from batch_profiles bp join profiles p on p.id = bp.profile_id
        where bp.batch_id = ${batch.id} and p.username = ${cursed!}`;
      expect(row!.attempts).toBe(3);
      expect(row!.error).toMatch(/^store_error: .*refusing to store/);
    });
  });

  it('an upstream outage disables no proxy: the batch shows stalled_reason, and finishes by itself once the source is back', async () => {
    await withWorker(
      {
        proxies: 3,
        sim: { ratePerSecond: 20, latencyMs: 5 },
        env: { BATCH_STALL_AFTER_MS: '2000', PROXY_HEALTH_INTERVAL_MS: '2000', PROXY_COOLDOWN_MS: '600000', CHECK_CHUNK_SIZE: '10', BATCH_CONCURRENCY: '2' },
      },
      async (stack, taskQueue) => {
        await ensureProxyHealthSchedule(server.env.client, { taskQueue, intervalMs: stack.config.PROXY_HEALTH_INTERVAL_MS });
        let revived: RunningSimulator | undefined;
        try {
          const batch = await makeRunningBatch(stack, usernames(200));
          const run = runBatch(stack, taskQueue, batch.id);
          await waitFor(async () => (await getBatch(stack.db.sql, batch.id)).successful_checks >= 20);
          // the source goes away: the proxies answer every CONNECT with 502
          const port = stack.sim.port;
          const options = stack.sim.simulator.settings;
          await stack.sim.close();
          await waitFor(async () => toApiBatch(await getBatch(stack.db.sql, batch.id)).stalled_reason === 'upstream_unreachable', 30_000);
          const stalled = toApiBatch(await getBatch(stack.db.sql, batch.id));
          expect(stalled.status).toBe('running');
          expect(stalled.stalled_since).not.toBeNull();
          const [counts] = await stack.db.sql<{ disabled: number; resting: number }[]>`
            select count(*) filter (where status = 'disabled')::int as disabled,
                   count(*) filter (where rest_reason = 'upstream_unreachable')::int as resting from proxies`;
          expect(counts).toEqual({ disabled: 0, resting: 3 });
          // ... and comes back on the same address: nothing but the health schedule brings the proxies back
          // (their own rest would last ten minutes)
          revived = await startSimulator({ ...options, port });
          expect((await run).outcome).toBe('done');
          await expectExactlyOnce(stack.db.sql, batch.id, 200);
          await expectNoStall(stack, batch.id);
          const events = await eventCounts(stack, batch.id);
          expect(events.BATCH_STALLED).toBe(1);
          expect(events.BATCH_STALL_CLEARED).toBe(1);
          expect(events.PROXY_RECOVERED).toBeGreaterThanOrEqual(1);
          expect(events.PROXY_DISABLED ?? 0).toBe(0);
          const [stall] = await stack.db.sql<{ details: { reason: string; what_to_do: string } }[]>`
            select details from batch_logs where batch_id = ${batch.id} and event_type = 'BATCH_STALLED'`;
          expect(stall!.details.reason).toBe('upstream_unreachable');
        } finally {
          await revived?.close();
          await server.env.client.schedule.getHandle(PROXY_HEALTH_SCHEDULE_ID).delete();
        }
      },
    );
  });

  it('a source that wants a login with no valid session stalls as no_valid_session, and goes on once a session is added', async () => {
    await withWorker(
      { proxies: 2, sim: { requireSession: true }, env: { BATCH_STALL_AFTER_MS: '1000' } },
      async (stack, taskQueue) => {
        const batch = await makeRunningBatch(stack, usernames(30));
        const run = runBatch(stack, taskQueue, batch.id);
        await waitFor(async () => toApiBatch(await getBatch(stack.db.sql, batch.id)).stalled_reason === 'no_valid_session', 30_000);
        expect((await getBatch(stack.db.sql, batch.id)).failed_checks).toBe(0);
        await createSession(stack.db.sql, { token: 'a-valid-session-token' });
        expect((await run).outcome).toBe('done');
        await expectExactlyOnce(stack.db.sql, batch.id, 30);
        await expectNoStall(stack, batch.id);
        const [stall] = await stack.db.sql<{ details: { what_to_do: string } }[]>`
          select details from batch_logs where batch_id = ${batch.id} and event_type = 'BATCH_STALLED'`;
        expect(stall!.details.what_to_do).toMatch(/POST \/sessions/);
      },
    );
  });

  it('a queue held longer than BATCH_STALL_AFTER_MS shows queue_held, and the stall clears when the queue resumes', async () => {
    await withWorker(
      { proxies: 2, sim: { latencyMs: 20 }, env: { BATCH_STALL_AFTER_MS: '2000', CHECK_CHUNK_SIZE: '5', BATCH_CONCURRENCY: '1' } },
      async (stack, taskQueue) => {
        const batch = await makeRunningBatch(stack, usernames(60));
        const workflowId = `batch-${batch.id}-held`;
        const handle = await server.env.client.workflow.start(batchWorkflow, {
          taskQueue,
          workflowId,
          args: [{ batchId: batch.id, settings: batchSettings(stack.config) }],
        });
        await waitFor(async () => (await getBatch(stack.db.sql, batch.id)).successful_checks >= 5);
        // held as the API holds it: Postgres first, then the signal
        const held = await setQueuePaused(stack.db.sql, true);
        await handle.signal(queuePausedSignal, { paused: true, version: held.version });
        await waitFor(async () => toApiBatch(await getBatch(stack.db.sql, batch.id)).stalled_reason === 'queue_held', 30_000);
        const [stall] = await stack.db.sql<{ details: { what_to_do: string } }[]>`
          select details from batch_logs where batch_id = ${batch.id} and event_type = 'BATCH_STALLED'`;
        expect(stall!.details.what_to_do).toMatch(/POST \/queue\/resume/);
        const released = await setQueuePaused(stack.db.sql, false);
        await handle.signal(queuePausedSignal, { paused: false, version: released.version });
        expect((await handle.result()).outcome).toBe('done');
        await expectExactlyOnce(stack.db.sql, batch.id, 60);
        await expectNoStall(stack, batch.id);
        const events = await eventCounts(stack, batch.id);
        expect([events.BATCH_STALLED, events.BATCH_STALL_CLEARED]).toEqual([1, 1]);
      },
    );
  });

  it('a proxy deleted while its results are being stored does not lose them', async () => {
    const stack = await startStack({ proxies: 1 });
    try {
      const batch = await makeRunningBatch(stack, usernames(2));
      const doomed = await createProxy(stack.db.sql, { url: 'http://127.0.0.1:1' });
      await deleteProxy(stack.db.sql, doomed.id);
      const ids = await stack.db.sql<{ profile_id: string }[]>`select profile_id from batch_profiles where batch_id = ${batch.id}`;
      const { recorded: stored } = await recordSuccesses(
        stack.db.sql,
        { batchId: batch.id, proxyId: doomed.id, durationMs: 5, countAttempt: true },
        ids.map((r) => ({ profileId: r.profile_id, hasStory: false, storyCount: 0, latestStoryAt: null })),
      );
      expect(stored).toBe(2);
    } finally {
      await stack.close();
    }
  });
});

