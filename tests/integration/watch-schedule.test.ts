/**
 * A watch's real Temporal Schedule on a dev server: created by POST /watches, ticking every 10 s into batches
 * through `watchTickWorkflow` and its activity (a worker polls the API's task queue), paused, resumed, triggered
 * and deleted through the API, and put back by the workers' reconciliation when it went missing. The queue runner
 * the ticks wake is left on a queue nobody polls: batches stay queued until the test cancels them.
 */
import { randomUUID } from 'node:crypto';
import { ScheduleNotFoundError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWatchTickActivities } from '../../activities/watch-tick.js';
import { createLogger } from '../../src/logging/logger.js';
import { ensureWatchSchedules } from '../../src/watches/reconcile.js';
import { createWatchSchedule } from '../../src/watches/schedule.js';
import { startApiUnderTest } from '../helpers/api.js';
import { waitFor } from '../helpers/wait.js';
import { sharedWorkflowBundle } from '../helpers/workflow-bundle.js';

const api = startApiUnderTest({ temporal: true });
const call = api.call.bind(api);
let worker: Worker;
let running: Promise<void>;

beforeAll(async () => {
  worker = await Worker.create({
    connection: api.env.nativeConnection,
    namespace: 'default',
    taskQueue: api.config.TEMPORAL_TASK_QUEUE,
    workflowBundle: sharedWorkflowBundle(),
    activities: createWatchTickActivities({
      sql: api.db.sql,
      config: { TEMPORAL_TASK_QUEUE: `unpolled-runner-${randomUUID().slice(0, 8)}` },
      logger: createLogger({ test: true }),
      temporal: () => api.env.client,
    }),
  });
  running = worker.run();
});
afterAll(async () => {
  worker?.shutdown();
  await running;
});

interface ApiBatch {
  id: string;
  status: string;
  scheduled_at: string;
  watch_id: string | null;
}

async function batchesOf(watchId: string): Promise<ApiBatch[]> {
  const res = await call('GET', `/batches?watch_id=${watchId}`);
  expect(res.status, res.text).toBe(200);
  return res.body.items;
}

async function nicheWithProfiles(name: string): Promise<string> {
  const niche = (await call('POST', '/niches', { name })).body.id;
  expect((await call('POST', '/profiles', { usernames: [`${name}.one`, `${name}.two`], niche_id: niche })).status).toBe(201);
  return niche;
}

const scheduleOf = (watchId: string) => api.env.client.schedule.getHandle(`watch-${watchId}`);

/**
 * Waits until the Schedule knows every tick it took so far has closed (it skips a trigger while it counts the
 * previous tick's run as running, and learns of a run's end a little after the run ends), and until a new second
 * has begun: a trigger's tick is scheduled at its second, so a trigger in the second of the previous tick is that
 * same tick again (the same workflow id and scheduled time), and finds its batch.
 */
async function ticksOver(watchId: string): Promise<void> {
  await waitFor(async () => {
    const { info } = await scheduleOf(watchId).describe();
    const last = info.recentActions.at(-1)?.scheduledAt.getTime() ?? 0;
    return info.runningActions.length === 0 && Date.now() >= Math.floor(last / 1000) * 1000 + 1000;
  }, { timeoutMs: 30_000, what: 'the Schedule seeing its ticks closed' });
}

describe('watch schedules (dev server)', () => {
  it('ticks every 10 s into batches, shows next runs, pauses, resumes, triggers and deletes', async () => {
    const nicheId = await nicheWithProfiles('tick');
    const created = await call('POST', '/watches', { name: 'ten seconds', niche_id: nicheId, every_s: 10 });
    expect(created.status, created.text).toBe(201);
    const watch = created.body;
    const runs = watch.next_runs.map((t: string) => Date.parse(t));
    expect(runs.length).toBe(5);
    for (let i = 1; i < runs.length; i += 1) expect(runs[i] - runs[i - 1]).toBe(10_000);

    // the Schedule's first tick queues a batch of the niche, at its scheduled time
    const [first] = await waitFor(async () => {
      const batches = await batchesOf(watch.id);
      return batches.length > 0 && batches;
    }, { timeoutMs: 30_000, what: 'the first tick' });
    expect(first).toMatchObject({ status: 'queued', watch_id: watch.id });
    expect(Date.parse(first!.scheduled_at) % 10_000).toBe(0);
    const shown = (await call('GET', `/watches/${watch.id}`)).body;
    expect(shown.last_batch.id).toBe(first!.id);
    expect(shown.recent_actions.map((a: { scheduled_at: string }) => a.scheduled_at)).toContain(first!.scheduled_at);

    // hourly from now on, so that only triggers tick; every tick taken so far over
    expect((await call('PATCH', `/watches/${watch.id}`, { every_s: 3600 })).status).toBe(200);
    await ticksOver(watch.id);
    const skippedBefore: number = (await call('GET', `/watches/${watch.id}`)).body.ticks_skipped;

    // paused: the Schedule is paused, and a trigger is refused
    expect((await call('POST', `/watches/${watch.id}/pause`)).body.paused).toBe(true);
    expect((await scheduleOf(watch.id).describe()).state.paused).toBe(true);
    expect((await call('POST', `/watches/${watch.id}/trigger`)).status).toBe(409);
    expect((await call('POST', `/watches/${watch.id}/resume`)).body.paused).toBe(false);
    expect((await scheduleOf(watch.id).describe()).state.paused).toBe(false);

    // the first batch finished: a trigger queues the next
    expect((await call('POST', `/batches/${first!.id}/cancel`)).status).toBe(202);
    await ticksOver(watch.id);
    expect((await call('POST', `/watches/${watch.id}/trigger`)).status).toBe(202);
    const triggered = await waitFor(async () => {
      const [latest] = await batchesOf(watch.id);
      return latest && latest.id !== first!.id && latest;
    }, { timeoutMs: 30_000, what: 'the triggered tick' });
    expect(triggered.status).toBe('queued');
    await ticksOver(watch.id);

    // a trigger while that batch is queued: skipped
    expect((await call('POST', `/watches/${watch.id}/trigger`)).status).toBe(202);
    const skipped = await waitFor(async () => {
      const w = (await call('GET', `/watches/${watch.id}`)).body;
      return w.ticks_skipped > skippedBefore && w;
    }, { timeoutMs: 30_000, what: 'the skipped tick' });
    expect(skipped).toMatchObject({ ticks_skipped: skippedBefore + 1, last_tick: { result: 'skipped', skip_reason: 'previous_batch_unfinished' }, last_batch: { id: triggered.id } });
    expect(await batchesOf(watch.id)).toHaveLength(2);

    expect((await call('DELETE', `/watches/${watch.id}`)).status).toBe(204);
    await expect(scheduleOf(watch.id).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
    expect((await call('GET', `/batches/${triggered.id}`)).body.watch_id).toBeNull();
  });

  it("reconciliation recreates a watch's missing Schedule and deletes a Schedule whose watch is gone", async () => {
    const nicheId = await nicheWithProfiles('heal');
    const watch = (await call('POST', '/watches', { name: 'healed', niche_id: nicheId, every_s: 3600, paused: true })).body;
    await scheduleOf(watch.id).delete();
    const orphanId = randomUUID();
    await createWatchSchedule(
      api.env.client,
      { id: orphanId, name: 'gone', every_s: 3600, cron: null, timezone: 'UTC', jitter_s: 0, paused: true },
      api.config.TEMPORAL_TASK_QUEUE,
    );
    // Schedules are listed from the server's visibility store, which follows a little behind
    await waitFor(async () => {
      for await (const s of api.env.client.schedule.list()) if (s.scheduleId === `watch-${orphanId}`) return true;
      return false;
    }, { timeoutMs: 15_000, what: 'the orphan Schedule listed' });

    const report = await ensureWatchSchedules({ client: api.env.client, sql: api.db.sql, taskQueue: api.config.TEMPORAL_TASK_QUEUE, logger: createLogger({ test: true }) });
    expect(report.failed).toBe(0);
    expect(report.orphansDeleted).toBeGreaterThanOrEqual(1);
    const healed = await scheduleOf(watch.id).describe();
    expect(healed.state.paused).toBe(true);
    expect(healed.spec.intervals?.map((i) => i.every)).toEqual([3_600_000]);
    await expect(scheduleOf(orphanId).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
  });
});
