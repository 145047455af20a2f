/**
 * Batch and queue transitions through the real API with a real Temporal dev server and worker: the queue
 * runner exists whenever Postgres holds work (even when the API's wake failed), queue-wide pause/resume
 * signals may arrive in any order, each batch offers exactly the actions its status allows, and a storm of concurrent transitions leaves the queue consistent and
 * answers no 500. One server, stack and worker for the file; tests run in order.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { createLogger } from '../../src/logging/logger.js';
import { watchQueue } from '../../src/queue/watch.js';
import { getBatch } from '../../src/repos/batches.js';
import { createBatch, OPERATOR_ACTIONS, setQueuePaused, TRANSITIONS } from '../../src/repos/queue.js';
import { upsertProfiles } from '../../src/repos/profiles.js';
import { createWorker } from '../../src/worker/worker.js';
import { QUEUE_WORKFLOW_ID } from '../../workflows/batch-queue.js';
import { progressQuery, queuePausedSignal } from '../../workflows/signals.js';
import { startWorkerProcess } from '../helpers/processes.js';
import { startStack, usernames, type Stack } from '../helpers/stack.js';
import { createLocalEnv, uniqueIds } from '../helpers/temporal.js';
import { watchQueueInvariants } from '../helpers/invariants.js';
import { waitFor } from '../helpers/wait.js';
import { sharedWorkflowBundle } from '../helpers/workflow-bundle.js';

let env: TestWorkflowEnvironment;
let stack: Stack;
let worker: Worker;
let running: Promise<void>;
let app: ReturnType<typeof createApp>;
let taskQueue: string;
const logger = createLogger({ test: 'transitions' });

beforeAll(async () => {
  env = await createLocalEnv();
  stack = await startStack({
    proxies: 2,
    sim: { latencyMs: 15 },
    env: { CHECK_CHUNK_SIZE: '20', BATCH_CONCURRENCY: '2', BATCH_PROFILES_PER_RUN: '2000' },
  });
  ({ taskQueue } = uniqueIds('transitions'));
  worker = await createWorker({ connection: env.nativeConnection, namespace: 'default', taskQueue, config: stack.config, deps: stack.deps, workflowBundle: sharedWorkflowBundle() });
  running = worker.run();
  app = createApp({ sql: stack.db.sql, temporal: env.client, config: { ...stack.config, TEMPORAL_TASK_QUEUE: taskQueue }, logger });
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await stack?.close();
  await env?.teardown();
});

// response bodies are whatever the API returns; each test asserts the fields it relies on
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await app.request(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const statusOf = async (id: string) => (await getBatch(stack.db.sql, id)).status;
const waitStatus = (id: string, status: string, timeoutMs?: number) => waitFor(async () => (await statusOf(id)) === status, timeoutMs);

async function runnerStatus(): Promise<string | null> {
  try {
    return (await env.client.workflow.getHandle(QUEUE_WORKFLOW_ID).describe()).status.name;
  } catch {
    return null;
  }
}

async function profileIds(n: number, prefix: string): Promise<string[]> {
  const { items } = await upsertProfiles(stack.db.sql, usernames(n, prefix));
  return items.map((p) => p.id);
}

describe('the queue runner exists whenever there is work', () => {
  it('a create whose transaction outlasts the signal deadline still starts the runner', async () => {
    expect(await runnerStatus()).toBeNull();
    const ids = await profileIds(20, 'slow');
    // another transaction holds the queue for 6 s, longer than the 5 s a signal may take
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    const holder = stack.db.sql.begin(async (tx) => {
      await tx`select 1 from queue_state where singleton for update`;
      holding();
      await new Promise((r) => setTimeout(r, 6_000));
    });
    await held;
    const started = Date.now();
    const res = await call('POST', '/batches', { profile_ids: ids });
    await holder;
    expect(res.status).toBe(201);
    expect(Date.now() - started).toBeGreaterThan(5_000);
    // the wake was sent with its own deadline after the commit, so the runner exists now
    expect(await runnerStatus()).toBe('RUNNING');
    await waitStatus(res.body.id, 'done');
  });

  it('a worker starts a runner that is gone, and wakes an idle one that missed its wake', async () => {
    await env.client.workflow.getHandle(QUEUE_WORKFLOW_ID).terminate('lost runner');
    // queued straight in Postgres: no API call, so nobody signals
    const first = await createBatch(stack.db.sql, { profileIds: await profileIds(20, 'gone') });
    await new Promise((r) => setTimeout(r, 500));
    expect(await statusOf(first.id)).toBe('queued');

    // a worker starting: its first check starts the runner
    const watch = watchQueue({ sql: stack.db.sql, temporal: env.client, taskQueue, logger, intervalMs: 3_600_000 });
    try {
      await waitStatus(first.id, 'done');
      expect(await runnerStatus()).toBe('RUNNING');

      // once the runner has looked for more and gone idle, it waits up to 10 minutes for a wake: a batch
      // queued without one waits until the next check wakes it
      await new Promise((r) => setTimeout(r, 2_000));
      const second = await createBatch(stack.db.sql, { profileIds: await profileIds(20, 'idle') });
      await new Promise((r) => setTimeout(r, 500));
      expect(await statusOf(second.id)).toBe('queued');
      expect(await watch.check()).toBe('woken');
      await waitStatus(second.id, 'done');
      expect(await watch.check()).toBe('no_work');
    } finally {
      await watch.stop();
    }
  });
});

describe('a worker process', () => {
  it('starting while Postgres holds a queued batch and no runner exists, starts the runner', async () => {
    if ((await runnerStatus()) === 'RUNNING') await env.client.workflow.getHandle(QUEUE_WORKFLOW_ID).terminate('lost runner');
    const batch = await createBatch(stack.db.sql, { profileIds: await profileIds(20, 'boot') });
    const { child, output } = await startWorkerProcess({
      DATABASE_URL: stack.db.url,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      STORY_API_BASE_URL: stack.sim.url,
      TEMPORAL_SEARCH_ATTRIBUTES: 'false',
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitStatus(batch.id, 'done', 90_000).catch((err: unknown) => {
        throw new Error(`${String(err)}; worker output: ${output()}`);
      });
      expect(output()).toContain('started the batch queue runner');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});

describe('queue-wide pause and resume', () => {
  it('signals delivered in the other order than their changes committed leave the later state', async () => {
    stack.sim.setOptions({ latencyMs: 80 });
    try {
      const res = await call('POST', '/batches', { profile_ids: await profileIds(200, 'order') });
      expect(res.status).toBe(201);
      const id: string = res.body.id;
      await waitFor(async () => (await getBatch(stack.db.sql, id)).successful_checks >= 20);
      // two calls commit pause (v1) then resume (v2), and their signals arrive resume first
      const pause = await setQueuePaused(stack.db.sql, true);
      const resume = await setQueuePaused(stack.db.sql, false);
      expect(resume.version).toBeGreaterThan(pause.version);
      const handle = env.client.workflow.getHandle(`batch-${id}`);
      await handle.signal(queuePausedSignal, { paused: false, version: resume.version });
      await handle.signal(queuePausedSignal, { paused: true, version: pause.version });
      expect((await handle.query(progressQuery)).state).toBe('running');
      // and the batch goes on (a held queue would re-read Postgres only after 5 minutes)
      await waitStatus(id, 'done', 60_000);
    } finally {
      stack.sim.setOptions({ latencyMs: 15 });
    }
  });
});

describe("a batch's actions", () => {
  // the legal transitions (docs/api.md), by status: what the API offers and the console shows as buttons
  const OFFERED: Record<string, string[]> = {
    queued: ['start', 'pause', 'cancel'],
    running: ['pause', 'cancel'],
    paused: ['resume', 'start', 'cancel'],
    error: ['resume', 'start', 'cancel'],
    done: [],
    cancelled: [],
  };

  /** The batch offers its status's actions; every other action is refused, or leaves the batch as it is. */
  async function expectOffered(id: string, status: string): Promise<void> {
    const batch = await call('GET', `/batches/${id}`);
    expect(batch.body.status).toBe(status);
    expect(batch.body.actions, status).toEqual(OFFERED[status]);
    for (const action of OPERATOR_ACTIONS.filter((a) => !OFFERED[status]!.includes(a))) {
      const res = await call('POST', `/batches/${id}/${action}`);
      if (res.status === 202) expect(res.body.status, `${action} on ${status}`).toBe(status);
      else expect(res.status, `${action} on ${status}`).toBe(409);
    }
  }

  /** An offered action is accepted and moves the batch where TRANSITIONS says, which offers its own actions. */
  async function expectAccepted(id: string, action: string): Promise<void> {
    const res = await call('POST', `/batches/${id}/${action}`);
    expect(res.status, action).toBe(202);
    const to = TRANSITIONS[action as keyof typeof TRANSITIONS].to;
    expect(res.body.status, action).toBe(to);
    expect(res.body.actions, action).toEqual(OFFERED[to]);
  }

  it('each status offers the actions TRANSITIONS allows: the others are refused, the offered ones accepted', async () => {
    const created: string[] = [];
    const create = async (n: number, prefix: string, hold = false) => {
      const res = await call('POST', '/batches', { profile_ids: await profileIds(n, prefix), hold });
      expect(res.status).toBe(201);
      created.push(res.body.id);
      return res.body.id as string;
    };
    try {
      const done = await create(20, 'act_done');
      await waitStatus(done, 'done');
      await expectOffered(done, 'done');

      // slow enough that the running batch is still running when it is looked at
      stack.sim.setOptions({ latencyMs: 500 });
      const running = await create(400, 'act_running');
      await waitStatus(running, 'running');
      // held, so that nothing else starts once the running batch stops
      expect((await call('POST', '/queue/pause')).status).toBe(202);
      await expectOffered(running, 'running');

      const queued = await create(20, 'act_queued');
      const queue = await call('GET', '/queue');
      expect(queue.body.running.actions).toEqual(OFFERED.running);
      expect(queue.body.queued.map((b: { actions: string[] }) => b.actions)).toEqual([OFFERED.queued]);
      await expectOffered(queued, 'queued');
      await expectOffered(await create(20, 'act_paused', true), 'paused');
      const cancelled = await create(20, 'act_cancelled', true);
      await expectAccepted(cancelled, 'cancel');
      await expectOffered(cancelled, 'cancelled');

      // a run that ends unexpectedly (its workflow terminated) leaves the batch in error
      await env.client.workflow.getHandle(`batch-${running}`).terminate('the test stopped it');
      await waitStatus(running, 'error');
      await expectOffered(running, 'error');
      await expectAccepted(running, 'resume');

      // every offered action, each on a batch of its own (no batch runs now, so start is not refused)
      for (const action of OFFERED.queued!) await expectAccepted(await create(5, `act_q_${action}`), action);
      for (const action of OFFERED.paused!) await expectAccepted(await create(5, `act_p_${action}`, true), action);
    } finally {
      for (const id of created) await call('POST', `/batches/${id}/cancel`);
      await call('POST', '/queue/resume');
      stack.sim.setOptions({ latencyMs: 15 });
    }
  });
});

/** A small seeded generator, so a failing storm can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('a storm of concurrent transitions', () => {
  it('100 concurrent start/pause/resume/cancel/queue calls: no 500, one batch running at most, dense positions, every batch left in the queue runs to done', async () => {
    stack.sim.setOptions({ latencyMs: 20 });
    try {
      const batches: string[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await call('POST', '/batches', { profile_ids: await profileIds(40, `storm${i}`), hold: i % 3 === 2 });
        expect(res.status).toBe(201);
        batches.push(res.body.id);
      }
      const seed = Number(process.env.STORM_SEED ?? Date.now() % 100_000);
      const rnd = random(seed);
      const pick = <T>(items: readonly T[]) => items[Math.floor(rnd() * items.length)]!;
      // cancelling is for good: only half of the batches can be cancelled, so the queue still has work after
      const ops = [
        ...Array<string>(25).fill('start'),
        ...Array<string>(25).fill('pause'),
        ...Array<string>(25).fill('resume'),
        ...Array<string>(6).fill('cancel'),
        ...Array<string>(10).fill('queue-pause'),
        ...Array<string>(10).fill('queue-resume'),
      ];
      const calls = Array.from({ length: 100 }, () => {
        const op = pick(ops);
        const delay = Math.floor(rnd() * 300);
        if (op === 'queue-pause' || op === 'queue-resume') return { delay, method: 'POST', path: `/queue/${op.slice(6)}` };
        const id = op === 'cancel' ? pick(batches.slice(0, 3)) : pick(batches);
        return { delay, method: 'POST', path: `/batches/${id}/${op}` };
      });

      const storm = Promise.all(
        calls.map(async (c) => {
          await new Promise((r) => setTimeout(r, c.delay));
          const res = await call(c.method, c.path);
          return { ...c, status: res.status, body: res.body };
        }),
      );
      const watched = await watchQueueInvariants(stack.db.sql, storm);
      const results = await storm;
      const byStatus = results.reduce<Record<number, number>>((acc, r) => ((acc[r.status] = (acc[r.status] ?? 0) + 1), acc), {});
      const unexpected = results.filter((r) => r.status !== 202 && r.status !== 409);
      expect(unexpected, `seed ${seed}, statuses ${JSON.stringify(byStatus)}`).toEqual([]);
      expect(watched.violations, `seed ${seed}`).toEqual([]);
      expect(watched.maxRunning).toBeLessThanOrEqual(1);

      // afterwards everything not cancelled goes back into the queue, and the queue runs it all to done
      expect((await call('POST', '/queue/resume')).status).toBe(202);
      for (const id of batches) {
        const status = await statusOf(id);
        if (status === 'paused' || status === 'error') expect((await call('POST', `/batches/${id}/resume`)).status).toBe(202);
      }
      const finished = Promise.all(
        batches.map((id) => waitFor(async () => ['done', 'cancelled'].includes(await statusOf(id)), 120_000, 100)),
      );
      const settled = await watchQueueInvariants(stack.db.sql, finished);
      await finished;
      expect(settled.violations).toEqual([]);
      expect(settled.maxRunning).toBeLessThanOrEqual(1);

      const rows = await stack.db.sql<{ id: string; status: string; position: number | null; total_profiles: number; completed: number; running: number }[]>`
        select b.id, b.status, b.position, b.total_profiles, b.successful_checks + b.failed_checks as completed,
          (select count(*)::int from batch_profiles bp where bp.batch_id = b.id and bp.status = 'running') as running
        from batches b where b.id = any(${batches}::uuid[])`;
      for (const r of rows) {
        expect(r.position).toBeNull();
        // a stopped batch shows no profile as being checked
        expect(r.running).toBe(0);
        if (r.status === 'done') expect(r.completed).toBe(r.total_profiles);
      }
      expect(rows.filter((r) => r.status === 'done').length).toBeGreaterThanOrEqual(3);
    } finally {
      stack.sim.setOptions({ latencyMs: 15 });
      await call('POST', '/queue/resume');
    }
  });
});
