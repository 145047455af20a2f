/**
 * Watches through the API, on a Temporal dev server of the file's own (no worker: no tick runs a batch here):
 * the refusals of bad input naming the field, 404s, list paging, and a watch's Schedule following its row on
 * create, PATCH, pause, resume and delete. A tick's batch is made here the way the tick activity makes it.
 */
import { ScheduleNotFoundError } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logging/logger.js';
import { runWatchTick } from '../../../src/repos/watch-ticks.js';
import { createWatchControl } from '../../../src/watches/watch-control.js';
import { expectError, startApiUnderTest, unusedTemporal, type Res } from '../../helpers/api.js';
import { batchFixtures } from './fixtures.js';

const api = startApiUnderTest({ temporal: true });
const call = api.call.bind(api);
afterAll(() => api.expectNoSecrets());
const { addProfiles } = batchFixtures(api);

/** The field a 400 names: a repository's `details.field`, or the first schema issue's path. */
function fieldOf(res: Res): string | undefined {
  const details = res.body?.error?.details;
  return details?.field ?? details?.issues?.[0]?.path;
}

async function niche(name: string): Promise<string> {
  const res = await call('POST', '/niches', { name });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

async function newWatch(body: Record<string, unknown>) {
  const res = await call('POST', '/watches', body);
  expect(res.status, res.text).toBe(201);
  return res.body;
}

const describeSchedule = (id: string) => api.env.client.schedule.getHandle(`watch-${id}`).describe();

describe('watches', () => {
  it('refuses a bad selection, cadence, cron, time zone, interval or niche, naming the field, and creates nothing', async () => {
    const nicheId = await niche('food');
    const [profileId] = await addProfiles(['chef.one'], nicheId);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ name: 'w', every_s: 60 }, 'selection'],
      [{ name: 'w', niche_id: nicheId, profile_ids: [profileId], every_s: 60 }, 'selection'],
      [{ name: 'w', niche_id: nicheId }, 'cadence'],
      [{ name: 'w', niche_id: nicheId, every_s: 60, cron: '* * * * *' }, 'cadence'],
      [{ name: 'w', niche_id: nicheId, cron: 'every minute' }, 'cron'],
      [{ name: 'w', niche_id: nicheId, cron: '61 * * * *' }, 'cron'],
      [{ name: 'w', niche_id: nicheId, cron: 'CRON_TZ=Europe/Paris 0 * * * *' }, 'cron'],
      [{ name: 'w', niche_id: nicheId, cron: '0 9 * * MON', timezone: 'Mars/Olympus_Mons' }, 'timezone'],
      [{ name: 'w', niche_id: nicheId, every_s: 5 }, 'every_s'],
      [{ name: 'w', niche_id: nicheId, every_s: 60, jitter_s: -1 }, 'jitter_s'],
      [{ name: 'w', niche_id: '0b6f0d4e-3c5a-4a59-9c55-0f2b8c1e7d21', every_s: 60 }, 'niche_id'],
      [{ name: 'w', profile_ids: ['0b6f0d4e-3c5a-4a59-9c55-0f2b8c1e7d21'], every_s: 60 }, 'profile_ids'],
      [{ name: ' ', niche_id: nicheId, every_s: 60 }, 'name'],
    ];
    for (const [body, field] of cases) {
      const res = await call('POST', '/watches', body);
      expectError(res, 400, 'validation_error');
      expect(fieldOf(res), JSON.stringify(body)).toBe(field);
    }
    expect((await call('GET', '/watches')).body.items).toEqual([]);
    // a valid cron in a zone, for contrast
    const ok = await newWatch({ name: 'mornings', niche_id: nicheId, cron: '0 9 * * MON-FRI', timezone: 'Europe/Paris', paused: true });
    expect(ok).toMatchObject({ cron: '0 9 * * MON-FRI', timezone: 'Europe/Paris', every_s: null, paused: true, profile_count: 1 });
  });

  it('answers 404 for an unknown watch on every route', async () => {
    for (const id of ['0b6f0d4e-3c5a-4a59-9c55-0f2b8c1e7d21', 'not-a-uuid']) {
      expectError(await call('GET', `/watches/${id}`), 404, 'not_found');
      expectError(await call('PATCH', `/watches/${id}`, { priority: 1 }), 404, 'not_found');
      expectError(await call('DELETE', `/watches/${id}`), 404, 'not_found');
      for (const action of ['pause', 'resume', 'trigger']) expectError(await call('POST', `/watches/${id}/${action}`), 404, 'not_found');
    }
  });

  it('lists watches newest first, page by page, with their profile counts', async () => {
    const nicheId = await niche('sports');
    const ids = await addProfiles(['a.one', 'a.two', 'a.three'], nicheId);
    const made = [];
    for (const [i, selection] of [{ niche_id: nicheId }, { profile_ids: [ids[2], ids[0]] }, { profile_ids: [ids[1]] }].entries()) {
      made.push(await newWatch({ name: `w${i}`, every_s: 3600, paused: true, ...selection }));
    }
    const seen: Array<{ id: string; profile_count: number; profile_ids: unknown }> = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Res = await call('GET', `/watches?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status, page.text).toBe(200);
      seen.push(...page.body.items);
      cursor = page.body.next_cursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(2);
    expect(seen.map((w) => w.id)).toEqual(made.map((w) => w.id).reverse());
    expect(seen.map((w) => w.profile_count)).toEqual([1, 2, 3]);
    expect(seen.every((w) => w.profile_ids === null)).toBe(true);
    // one watch read alone names its profiles, in their order
    expect((await call('GET', `/watches/${made[1].id}`)).body.profile_ids).toEqual([ids[2], ids[0]]);
    expectError(await call('GET', '/watches?cursor=nope'), 400, 'validation_error');
  });

  it('keeps the Schedule in line with the watch: create, PATCH, pause, resume, trigger and delete', async () => {
    const nicheId = await niche('travel');
    const ids = await addProfiles(['t.one', 't.two'], nicheId);
    const watch = await newWatch({ name: 'hourly', niche_id: nicheId, every_s: 3600, jitter_s: 5 });
    expect(watch).toMatchObject({ schedule_id: `watch-${watch.id}`, paused: false, last_tick: null, last_batch: null, ticks_skipped: 0 });
    expect(watch.next_runs.length).toBeGreaterThan(0);
    let schedule = await describeSchedule(watch.id);
    expect(schedule.spec.intervals?.map((i) => i.every)).toEqual([3_600_000]);
    expect(schedule.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 3_600_000 });
    expect(schedule.action).toMatchObject({ workflowType: 'watchTickWorkflow', args: [{ watchId: watch.id }], taskQueue: api.config.TEMPORAL_TASK_QUEUE });

    const patched = await call('PATCH', `/watches/${watch.id}`, { cron: '*/5 * * * *', timezone: 'Asia/Tokyo', priority: 7, profile_ids: [ids[1]] });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ every_s: null, cron: '*/5 * * * *', timezone: 'Asia/Tokyo', priority: 7, niche_id: null, profile_ids: [ids[1]], profile_count: 1 });
    for (const run of patched.body.next_runs as string[]) expect(new Date(run).getUTCMinutes() % 5).toBe(0);
    schedule = await describeSchedule(watch.id);
    expect(schedule.spec.intervals ?? []).toEqual([]);
    expect(schedule.spec.timezone).toBe('Asia/Tokyo');
    expect(schedule.policies.catchupWindow).toBe(60_000);
    expectError(await call('PATCH', `/watches/${watch.id}`, { every_s: 60, cron: '* * * * *' }), 400, 'validation_error');

    const paused = await call('POST', `/watches/${watch.id}/pause`);
    expect(paused.body.paused).toBe(true);
    expect((await describeSchedule(watch.id)).state.paused).toBe(true);
    expectError(await call('POST', `/watches/${watch.id}/trigger`), 409, 'watch_paused');
    expect((await call('POST', `/watches/${watch.id}/resume`)).body.paused).toBe(false);
    expect((await describeSchedule(watch.id)).state.paused).toBe(false);
    // no worker polls: the triggered tick is taken by the Schedule, and waits for one
    expect((await call('POST', `/watches/${watch.id}/trigger`)).status).toBe(202);

    // a tick's batch, made as the tick activity makes it, shows on the watch and in the batch list
    const tick = await runWatchTick(api.db.sql, { watchId: watch.id, scheduledAt: new Date('2030-01-01T00:00:00Z') });
    expect(tick.result).toBe('created');
    const shown = (await call('GET', `/watches/${watch.id}`)).body;
    expect(shown.last_batch).toMatchObject({ watch_id: watch.id, scheduled_at: '2030-01-01T00:00:00.000Z', name: 'hourly 2030-01-01T00:00:00.000Z', priority: 7 });
    expect(shown.last_tick).toEqual({ at: '2030-01-01T00:00:00.000Z', result: 'created', skip_reason: null });
    const listed = await call('GET', `/batches?watch_id=${watch.id}`);
    expect(listed.body.items.map((b: { id: string }) => b.id)).toEqual([shown.last_batch.id]);
    expect((await call('GET', '/batches?watch_id=0b6f0d4e-3c5a-4a59-9c55-0f2b8c1e7d21')).body.items).toEqual([]);

    const deleted = await call('DELETE', `/watches/${watch.id}`);
    expect(deleted.status).toBe(204);
    await expect(describeSchedule(watch.id)).rejects.toBeInstanceOf(ScheduleNotFoundError);
    expectError(await call('GET', `/watches/${watch.id}`), 404, 'not_found');
    // its batches stay, without their watch
    expect((await call('GET', `/batches/${shown.last_batch.id}`)).body).toMatchObject({ watch_id: null, scheduled_at: '2030-01-01T00:00:00.000Z' });
  });

  it('removes a new watch whose Schedule cannot be created, and answers 503', async () => {
    const nicheId = await niche('music');
    await addProfiles(['m.one'], nicheId);
    const control = createWatchControl({ sql: api.db.sql, temporal: unusedTemporal(), taskQueue: 'unused', logger: createLogger(), deadlineMs: 1_000 });
    const attempt = control.create({ name: 'lost', niche_id: nicheId, every_s: 60, timezone: 'UTC', jitter_s: 0, max_age_s: 0, priority: 0, paused: false });
    await expect(attempt).rejects.toMatchObject({ name: 'UnavailableError', component: 'temporal' });
    expect((await api.db.sql`select count(*)::int as n from watches`)[0]!.n).toBe(0);
  });
});
