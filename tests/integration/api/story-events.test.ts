/**
 * Story events: `GET /events` paged by `after` in commit order with its filters, and `GET /events/stream`
 * (Server-Sent Events) from one reader per API process: events committed from the moment it opens, resumed
 * after Last-Event-ID with no gap and no duplicate, fanned out to subscribers with different filters, and ended
 * when the API stops. Events are written straight into Postgres, as the worker's transaction leaves them.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/api/app.js';
import { startApi } from '../../../src/api/server.js';
import { StoryEvent } from '../../../src/api/story-schemas.js';
import { createLogger } from '../../../src/logging/logger.js';
import type { StoryEventType } from '../../../src/enums.js';
import { API_KEY, expectError, fieldsOf, SseReader, startApiUnderTest, unusedTemporal, type App, type SseEvent } from '../../helpers/api.js';
import { openTransaction } from '../../helpers/log-writers.js';
import { insertNiche, insertProfile, insertStoryEvents, seqsOf, writeStoryEvents, type StoryEventInput } from '../../helpers/stories.js';
import { waitFor } from '../../helpers/wait.js';

const api = startApiUnderTest({ temporal: false, eventsIntervalMs: 20 });
afterAll(() => api.expectNoSecrets());

let sports: string;
let news: string;
let alice: string; // in sports
let bob: string; // in news
let carol: string; // in no niche

beforeEach(async () => {
  [sports, news] = await Promise.all([insertNiche(api.db.sql, 'sports'), insertNiche(api.db.sql, 'news')]);
  [alice, bob, carol] = await Promise.all([
    insertProfile(api.db.sql, 'alice', sports),
    insertProfile(api.db.sql, 'bob', news),
    insertProfile(api.db.sql, 'carol'),
  ]);
});

let itemCounter = 0;
/** A new event of the profile (each needs an item of its own: one event of each type per item). */
function event(profileId: string, type: StoryEventType = 'story.posted', itemPk = `i${++itemCounter}`): StoryEventInput {
  return { type, profileId, itemPk };
}

async function openStream(query = '', headers: Record<string, string> = {}, target: App = api.app): Promise<SseReader> {
  const res = await target.request(`/events/stream${query}`, { headers: { authorization: `Bearer ${API_KEY}`, ...headers } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  return new SseReader(res.body!, (e) => api.bodies.push(e.data));
}

const seqOf = (e: SseEvent) => Number(e.id);

/**
 * Commits probe events of `profileId` until the stream has one (from then on, what commits reaches it), then
 * waits for the last probe; returns its seq: every event after it is the test's own.
 */
async function untilFlowing(stream: SseReader, profileId: string): Promise<number> {
  let lastProbe = 0;
  await waitFor(
    async () => {
      lastProbe = (await insertStoryEvents(api.db.sql, [event(profileId, 'story.posted', `probe${++itemCounter}`)]))[0]!;
      return stream.events.some((e) => (JSON.parse(e.data) as { item_pk: string }).item_pk.startsWith('probe')) || undefined;
    },
    { timeoutMs: 10_000, stepMs: 50, what: 'a probe event on the stream' },
  );
  await stream.waitFor((e) => seqOf(e) === lastProbe);
  return lastProbe;
}

describe('GET /events', () => {
  it('pages by after in commit order: next_after, has_more, and exactly the documented fields', async () => {
    const seqs = await insertStoryEvents(api.db.sql, [event(alice), event(bob, 'story.ended'), event(carol), event(alice), event(bob)]);
    const whole = await api.call('GET', '/events?limit=1000');
    expect(whole.status, whole.text).toBe(200);
    expect(whole.body.items.map((e: { seq: number }) => e.seq)).toEqual(seqs);
    expect(whole.body).toMatchObject({ next_after: seqs[4], has_more: false });
    for (const item of whole.body.items) expect(Object.keys(item).sort()).toEqual(fieldsOf(StoryEvent));
    expect(whole.body.items[1]).toMatchObject({ type: 'story.ended', profile_id: bob, username: 'bob', niche_id: news, batch_id: null });
    expect(whole.body.items[1].details).toMatchObject({ media_type: 'image' });

    const paged: unknown[] = [];
    let after = 0;
    for (const expected of [[true, 2], [true, 2], [false, 1]] as const) {
      const page = await api.call('GET', `/events?limit=2&after=${after}`);
      expect(page.body.items).toHaveLength(expected[1]);
      expect(page.body.has_more).toBe(expected[0]);
      paged.push(...page.body.items);
      after = page.body.next_after;
    }
    expect(paged).toEqual(whole.body.items);
    // nothing after the last: the same after back
    expect((await api.call('GET', `/events?after=${after}`)).body).toEqual({ items: [], next_after: after, has_more: false });
  });

  it('filters by type, by the niche the profile is in now, and by profile, together', async () => {
    await insertStoryEvents(api.db.sql, [event(alice), event(alice, 'story.ended'), event(bob), event(carol, 'story.ended')]);
    const usernames = async (query: string) =>
      (await api.call('GET', `/events?${query}`)).body.items.map((e: { username: string; type: string }) => `${e.username} ${e.type}`);
    expect(await usernames('type=story.ended')).toEqual(['alice story.ended', 'carol story.ended']);
    expect(await usernames(`niche_id=${sports}`)).toEqual(['alice story.posted', 'alice story.ended']);
    expect(await usernames(`profile_id=${bob}`)).toEqual(['bob story.posted']);
    expect(await usernames(`niche_id=${sports}&type=story.posted`)).toEqual(['alice story.posted']);
    expect(await usernames(`niche_id=${news}&profile_id=${alice}`)).toEqual([]);
    // moved to another niche: its events go with it
    await api.db.sql`update profiles set niche_id = ${news} where id = ${alice}`;
    expect(await usernames(`niche_id=${sports}`)).toEqual([]);
    expect(await usernames(`niche_id=${news.toUpperCase()}&type=story.ended`)).toEqual(['alice story.ended']);
  });

  it('never skips an event whose transaction commits after a later one', async () => {
    const late = await openTransaction(api.db.sql);
    const lateEvent = event(alice);
    await writeStoryEvents(late.tx, [lateEvent]);
    const [early] = await insertStoryEvents(api.db.sql, [event(bob)]);
    const first = await api.call('GET', '/events');
    expect(first.body.items.map((e: { seq: number }) => e.seq)).toEqual([early]);
    await late.commit();
    const next = await api.call('GET', `/events?after=${first.body.next_after}`);
    expect(next.body.items.map((e: { profile_id: string; seq: number }) => [e.profile_id, e.seq])).toEqual([[alice, (await seqsOf(api.db.sql, [lateEvent]))[0]]]);
  });

  it('refuses an unknown type, a negative after and a malformed niche', async () => {
    expectError(await api.call('GET', '/events?type=story.deleted'), 400, 'validation_error');
    expectError(await api.call('GET', '/events?after=-1'), 400, 'validation_error');
    expectError(await api.call('GET', '/events?niche_id=sports'), 400, 'validation_error');
  });
});

describe('GET /events/stream', () => {
  it('sends what commits after it opened, each as its type with its seq as id and the StoryEvent as data', async () => {
    await insertStoryEvents(api.db.sql, [event(alice, 'story.posted', 'before')]);
    const stream = await openStream();
    try {
      const from = await untilFlowing(stream, carol);
      const seqs = await insertStoryEvents(api.db.sql, [event(alice), event(bob, 'story.ended')]);
      await stream.waitFor((e) => seqOf(e) === seqs[1]);
      expect(stream.events.some((e) => JSON.parse(e.data).item_pk === 'before')).toBe(false);
      const got = stream.events.filter((e) => seqOf(e) > from);
      expect(got.map((e) => [e.event, seqOf(e)])).toEqual([['story.posted', seqs[0]], ['story.ended', seqs[1]]]);
      const listed = await api.call('GET', `/events?after=${from}`);
      expect(got.map((e) => JSON.parse(e.data))).toEqual(listed.body.items);
    } finally {
      await stream.close();
    }
  });

  it('resumes after Last-Event-ID (or ?after=) with no gap and no duplicate, late commits included', async () => {
    const before = await insertStoryEvents(api.db.sql, [event(alice), event(bob), event(carol), event(alice)]);
    const received: number[] = [];
    let lastId = String(before[1]);
    const expectedAfter = (seq: number) => async () =>
      (await api.db.sql<{ seq: number }[]>`select seq from story_events where seq > ${seq} order by seq`).map((r) => r.seq);
    for (let round = 0; round < 4; round++) {
      // the first round resumes through ?after=, the others as EventSource does
      const stream = round === 0 ? await openStream(`?after=${lastId}`) : await openStream('', { 'last-event-id': lastId });
      const late = await openTransaction(api.db.sql);
      await writeStoryEvents(late.tx, [event(carol)]);
      await insertStoryEvents(api.db.sql, [event(alice), event(bob, 'story.ended')]);
      await late.commit();
      const newest = (await api.db.sql<{ seq: number }[]>`select max(seq) as seq from story_events`)[0]!.seq;
      await stream.waitFor((e) => seqOf(e) === newest);
      await stream.close();
      received.push(...stream.events.map(seqOf));
      lastId = String(received.at(-1));
    }
    expect(received).toEqual(await expectedAfter(before[1]!)());
    // Last-Event-ID wins over ?after=
    const both = await openStream(`?after=0`, { 'last-event-id': String(before[2]) });
    await both.waitFor((e) => seqOf(e) === before[3]);
    await both.close();
    expect(both.events.map(seqOf)[0]).toBe(before[3]);
  });

  it('fans out from one reader to subscribers with different filters, each getting what it asked for', async () => {
    let queries = 0;
    // every query the app runs through its client, counted when it is awaited (fragments inside one never are)
    const countingSql = new Proxy(api.db.sql, {
      apply(target, thisArg, args) {
        const query = Reflect.apply(target, thisArg, args) as Promise<unknown>;
        const then = query.then.bind(query);
        query.then = (...callbacks) => {
          queries++;
          return then(...callbacks);
        };
        return query;
      },
    });
    const counted = createApp({ sql: countingSql, temporal: unusedTemporal(), config: api.config, logger: createLogger(), eventsIntervalMs: 20 });
    const filters = ['', '?type=story.ended', `?niche_id=${sports}`, `?profile_id=${bob}`, `?niche_id=${news}&type=story.posted`];
    const queriesPerSecond = async (streams: SseReader[]) => {
      await untilFlowing(streams[0]!, carol);
      const before = queries;
      await new Promise((r) => setTimeout(r, 1_000));
      return queries - before;
    };
    // one query a tick at most, however many follow (a reader each would need 20 times that)
    const bound = 1_000 / 20 + 1;
    const alone = await openStream('', {}, counted);
    const one = await queriesPerSecond([alone]);
    // streams[i] asks for filters[i % 5] (streams[0], alone, for everything)
    const others = await Promise.all(Array.from({ length: 19 }, (_, i) => openStream(filters[(i + 1) % filters.length], {}, counted)));
    const streams = [alone, ...others];
    const many = await queriesPerSecond(streams);
    expect(one).toBeGreaterThan(10); // it polls
    expect(one).toBeLessThanOrEqual(bound);
    expect(many).toBeLessThanOrEqual(bound);

    const marks = streams.map((s) => s.events.length);
    const seqs = await insertStoryEvents(api.db.sql, [event(alice), event(bob), event(bob, 'story.ended'), event(carol, 'story.ended'), event(alice)]);
    const wanted: Record<string, number[]> = {
      '': seqs,
      '?type=story.ended': [seqs[2]!, seqs[3]!],
      [`?niche_id=${sports}`]: [seqs[0]!, seqs[4]!],
      [`?profile_id=${bob}`]: [seqs[1]!, seqs[2]!],
      [`?niche_id=${news}&type=story.posted`]: [seqs[1]!],
    };
    // an unfiltered stream has every event once it has the last one; then every filtered stream has had its tick
    await Promise.all(streams.filter((_, i) => i % filters.length === 0).map((s) => s.waitFor((e) => seqOf(e) === seqs[4])));
    await new Promise((r) => setTimeout(r, 200));
    streams.forEach((s, i) => {
      const filter = filters[i % filters.length]!;
      expect(s.events.slice(marks[i]).map(seqOf).filter((seq) => seq >= seqs[0]!), filter).toEqual(wanted[filter]);
    });
    await Promise.all(streams.map((s) => s.close()));
    // nobody follows any more: the reader stops
    await new Promise((r) => setTimeout(r, 200));
    const idle = queries;
    await new Promise((r) => setTimeout(r, 300));
    expect(queries).toBe(idle);
  });

  it('refuses a bad filter or Last-Event-ID before the stream starts', async () => {
    expectError(await api.call('GET', '/events/stream?type=posted'), 400, 'validation_error');
    expectError(await api.call('GET', '/events/stream', undefined, { headers: { 'last-event-id': 'abc' } }), 400, 'validation_error');
  });

  it('ends its open streams when the API stops (over a real connection)', async () => {
    const server = await startApi({ config: api.config, sql: api.db.sql, temporal: unusedTemporal(), port: 0, logger: createLogger() });
    const res = await fetch(`${server.url}/events/stream`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(res.status).toBe(200);
    const stream = new SseReader(res.body!);
    await untilFlowing(stream, carol);
    const started = Date.now();
    await server.close();
    await stream.ended;
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
