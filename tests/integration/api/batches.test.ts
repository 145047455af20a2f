/**
 * Batches through the API: the queue by priority with dense positions, pause, resume, cancel and hold, the
 * batch sources, and the queue-wide hold. No worker runs: every transition is decided in Postgres, and the
 * runner's claims are made here.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { claimNextBatch } from '../../../src/repos/queue.js';
import { startApiUnderTest } from '../../helpers/api.js';
import { batchFixtures } from './fixtures.js';

const api = startApiUnderTest({ temporal: true });
const call = api.call.bind(api);
afterAll(() => api.expectNoSecrets());
const { addProfiles, newBatch, queuedIds } = batchFixtures(api);

describe('batch lifecycle', () => {
  it('queues by priority, starts at the head, pauses, resumes, cancels and holds with dense positions', async () => {
    const ids = await addProfiles(['p1', 'p2', 'p3', 'p4', 'p5']);
    const a = await newBatch({ name: 'A', profile_ids: ids.slice(0, 2) });
    expect(a).toMatchObject({ status: 'queued', position: 1, priority: 0, total_profiles: 2, completion_rate: 0 });
    const b = await newBatch({ name: 'B', profile_ids: ids.slice(2, 4) });
    const c = await newBatch({ name: 'C', profile_ids: ids, priority: 5 });
    expect(b.position).toBe(2);
    expect(c.position).toBe(1); // higher priority runs first
    expect(await queuedIds()).toEqual([c.id, a.id, b.id]);

    const started = await call('POST', `/batches/${b.id}/start`);
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ id: b.id, status: 'queued', position: 1 });
    expect(await queuedIds()).toEqual([b.id, c.id, a.id]);

    const paused = await call('POST', `/batches/${a.id}/pause`);
    expect(paused.status).toBe(202);
    expect(paused.body).toMatchObject({ status: 'paused', position: null });
    expect(await queuedIds()).toEqual([b.id, c.id]);

    const resumed = await call('POST', `/batches/${a.id}/resume`);
    expect(resumed.status).toBe(202);
    expect(resumed.body).toMatchObject({ status: 'queued', position: 3 });
    expect(await queuedIds()).toEqual([b.id, c.id, a.id]);

    const cancelled = await call('POST', `/batches/${c.id}/cancel`);
    expect(cancelled.status).toBe(202);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', position: null });
    expect(cancelled.body.completed_at).not.toBeNull();
    expect(await queuedIds()).toEqual([b.id, a.id]);

    const held = await newBatch({ name: 'D', usernames: ['p5', 'p6'], hold: true });
    expect(held).toMatchObject({ status: 'paused', position: null, total_profiles: 2 });
    expect(await queuedIds()).toEqual([b.id, a.id]);
    // a held batch started goes to the head
    expect((await call('POST', `/batches/${held.id}/start`)).body).toMatchObject({ status: 'queued', position: 1 });

    // the runner claims the head: position 0, shown as running in the queue
    expect((await claimNextBatch(api.db.sql))?.id).toBe(held.id);
    const queue = (await call('GET', '/queue')).body;
    expect(queue.running).toMatchObject({ id: held.id, status: 'running', position: 0 });
    expect(queue.queued.map((q: { id: string; position: number }) => [q.id, q.position])).toEqual([[b.id, 1], [a.id, 2]]);
    // pausing the running batch frees the runner
    expect((await call('POST', `/batches/${held.id}/pause`)).body).toMatchObject({ status: 'paused', position: null });
    expect((await call('GET', '/queue')).body.running).toBeNull();

    // lists: newest first, status filter, pages
    const all = (await call('GET', '/batches')).body.items.map((x: { name: string }) => x.name);
    expect(all).toEqual(['D', 'C', 'B', 'A']);
    expect((await call('GET', '/batches?status=queued')).body.items.map((x: { name: string }) => x.name)).toEqual(['B', 'A']);
    const first = (await call('GET', '/batches?limit=3')).body;
    expect(first.items).toHaveLength(3);
    const rest = (await call('GET', `/batches?limit=3&cursor=${first.next_cursor}`)).body;
    expect(rest).toEqual({ items: [expect.objectContaining({ name: 'A' })], next_cursor: null });

    // logs, oldest first, with filters
    const logs = (await call('GET', `/batches/${a.id}/logs`)).body.items;
    expect(logs.map((l: { event_type: string }) => l.event_type)).toEqual(['BATCH_QUEUED', 'BATCH_PAUSED', 'BATCH_RESUMED']);
    expect(logs[0]).toMatchObject({ batch_id: a.id, level: 'INFO', created_at: expect.stringMatching(/Z$/) });
    expect((await call('GET', `/batches/${a.id}/logs?event_type=BATCH_PAUSED`)).body.items).toHaveLength(1);
    expect((await call('GET', `/batches/${a.id}/logs?level=ERROR`)).body.items).toHaveLength(0);
  });

  it('resolves each source in order: profile ids as given, a niche, usernames created when missing', async () => {
    const niche = (await call('POST', '/niches', { name: 'music' })).body;
    const inNiche = await addProfiles(['m1', 'm2', 'm3'], niche.id);
    await addProfiles(['m0']); // outside the niche
    const fromNiche = await newBatch({ niche_id: niche.id });
    expect(fromNiche).toMatchObject({ total_profiles: 3 });
    const nicheOrder = (await call('GET', `/batches/${fromNiche.id}/profiles`)).body.items.map((p: { profile_id: string }) => p.profile_id);
    expect(nicheOrder).toEqual(inNiche); // by username

    const given = [inNiche[2]!, inNiche[0]!, inNiche[2]!];
    const fromIds = await newBatch({ profile_ids: given });
    expect(fromIds).toMatchObject({ total_profiles: 2 });
    const page = (await call('GET', `/batches/${fromIds.id}/profiles`)).body;
    expect(page.items.map((p: { profile_id: string }) => p.profile_id)).toEqual([inNiche[2], inNiche[0]]);
    expect(page.items[0]).toEqual({
      profile_id: inNiche[2], username: 'm3', status: 'pending', has_story: null, story_count: null, error: null,
      attempts: 0, proxy_id: null, duration_ms: null, checked_at: null, source: null,
    });
    const firstOnly = (await call('GET', `/batches/${fromIds.id}/profiles?limit=1`)).body;
    const second = (await call('GET', `/batches/${fromIds.id}/profiles?limit=1&cursor=${firstOnly.next_cursor}`)).body;
    expect(second.items.map((p: { username: string }) => p.username)).toEqual(['m1']);
    expect((await call('GET', `/batches/${fromIds.id}/profiles?status=completed`)).body.items).toHaveLength(0);

    const fromNames = await newBatch({ usernames: ['M2', 'new.one', '@new_two'] });
    expect(fromNames).toMatchObject({ total_profiles: 3 });
    const names = (await call('GET', `/batches/${fromNames.id}/profiles`)).body.items.map((p: { username: string }) => p.username);
    expect(names).toEqual(['m2', 'new.one', 'new_two']);
    const [count] = await api.db.sql<{ n: number }[]>`select count(*)::int as n from profiles`;
    expect(count!.n).toBe(6);
  });

  it('holds and resumes the whole queue', async () => {
    const paused = await call('POST', '/queue/pause');
    expect(paused.status).toBe(202);
    expect(paused.body).toMatchObject({ paused: true, running: null, queued: [] });
    expect((await call('GET', '/queue')).body.paused).toBe(true);
    const resumed = await call('POST', '/queue/resume');
    expect(resumed.status).toBe(202);
    expect(resumed.body.paused).toBe(false);
  });

  it('keeps at most one batch running and positions dense under 50 concurrent transitions', async () => {
    const ids = await addProfiles(Array.from({ length: 6 }, (_, i) => `cc${i}`));
    const batches: string[] = [];
    for (let i = 0; i < 6; i++) batches.push((await newBatch({ profile_ids: [ids[i]], priority: i % 3 })).id);
    await claimNextBatch(api.db.sql);

    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const actions = ['start', 'pause', 'resume', 'cancel', 'start', 'resume'];
    const requests = Array.from({ length: 50 }, async (_, i) => {
      // the runner claims now and then, concurrently with the API
      if (i % 10 === 0) await claimNextBatch(api.db.sql);
      return call('POST', `/batches/${batches[rand(batches.length)]}/${actions[rand(actions.length)]}`);
    });
    const results = await Promise.all(requests);
    for (const res of results) {
      expect([202, 409], res.text).toContain(res.status);
      if (res.status === 409) expect(['conflict', 'batch_running']).toContain(res.body.error.code);
    }
    expect(results.filter((r) => r.status === 202).length).toBeGreaterThan(5);

    const rows = await api.db.sql<{ status: string; position: number | null }[]>`select status, position from batches`;
    expect(rows.filter((r) => r.status === 'running').length).toBeLessThanOrEqual(1);
    for (const r of rows) {
      if (r.status === 'running') expect(r.position).toBe(0);
      else if (r.status !== 'queued') expect(r.position).toBeNull();
    }
    const queued = rows.filter((r) => r.status === 'queued').map((r) => r.position!).sort((x, y) => x - y);
    expect(queued).toEqual(queued.map((_, i) => i + 1));
    // and the API agrees with the table
    expect((await queuedIds()).length).toBe(queued.length);
  });
});
