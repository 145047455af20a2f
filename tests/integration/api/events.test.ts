/**
 * A batch's live events (`GET /batches/:id/events`): progress and new logs until the batch settles,
 * Last-Event-ID replay, and a stream that stops reading Postgres when its client goes away.
 */
import { get as httpGet, type ClientRequest } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { startApi } from '../../../src/api/server.js';
import { createLogger } from '../../../src/logging/logger.js';
import { claimNextBatch, completeBatch } from '../../../src/repos/queue.js';
import { API_KEY, startApiUnderTest } from '../../helpers/api.js';
import { batchFixtures } from './fixtures.js';

const api = startApiUnderTest({ temporal: true });
const call = api.call.bind(api);
afterAll(() => api.expectNoSecrets());
const { config } = api;
const { addProfiles, newBatch, markChecked } = batchFixtures(api);

describe('live events (SSE)', () => {
  it('streams progress and new logs, and ends when the batch is done', async () => {
    const ids = await addProfiles(['s1', 's2']);
    const batch = await newBatch({ profile_ids: ids });
    const stream = await api.openEvents(batch.id);

    const first = await stream.waitFor((e) => e.event === 'progress');
    expect(JSON.parse(first.data)).toMatchObject({ id: batch.id, status: 'queued', completed_profiles: 0 });

    await claimNextBatch(api.db.sql);
    await stream.waitFor((e) => e.event === 'progress' && JSON.parse(e.data).status === 'running');
    const started = await stream.waitFor((e) => e.event === 'log' && JSON.parse(e.data).event_type === 'BATCH_STARTED');
    expect(Number(started.id)).toBeGreaterThan(0);

    await markChecked(batch.id, [{ profileId: ids[0]!, hasStory: true }]);
    await stream.waitFor((e) => e.event === 'progress' && JSON.parse(e.data).successful_checks === 1);
    const success = await stream.waitFor((e) => e.event === 'log' && JSON.parse(e.data).event_type === 'STORY_CHECK_SUCCESS');
    expect(JSON.parse(success.data)).toMatchObject({ profile_id: ids[0], details: { has_story: true } });

    await markChecked(batch.id, [{ profileId: ids[1]!, hasStory: false }]);
    await completeBatch(api.db.sql, batch.id);
    const end = await stream.waitFor((e) => e.event === 'end');
    expect(JSON.parse(end.data)).toMatchObject({ status: 'done', completed_profiles: 2, completion_rate: 1, stories_found: 1 });
    await stream.ended; // the server closed the stream
    const kinds = stream.events.map((e) => e.event);
    expect(kinds[kinds.length - 1]).toBe('end');
    // the completion log comes before the end
    expect(stream.events.some((e) => e.event === 'log' && JSON.parse(e.data).event_type === 'BATCH_COMPLETED')).toBe(true);
    // only logs written after the subscription: the BATCH_QUEUED of creation is not replayed
    expect(stream.events.some((e) => e.event === 'log' && JSON.parse(e.data).event_type === 'BATCH_QUEUED')).toBe(false);
  });

  it('replays after Last-Event-ID, and ends at once for a settled batch', async () => {
    const held = await newBatch({ usernames: ['s3'], hold: true });
    const stream = await api.openEvents(held.id, { 'last-event-id': '0' });
    await stream.ended;
    expect(stream.events.map((e) => e.event)).toEqual(['log', 'progress', 'end']);
    expect(JSON.parse(stream.events[0]!.data).event_type).toBe('BATCH_QUEUED');
    expect(JSON.parse(stream.events[2]!.data)).toMatchObject({ status: 'paused', position: null });
  });

  it('stops polling when the client goes away (over a real connection)', async () => {
    const batch = await newBatch({ usernames: ['s4'] });
    // counts the queries the server runs, to see the stream's polling stop
    let queries = 0;
    const countingSql = new Proxy(api.db.sql, {
      apply(target, thisArg, args) {
        queries++;
        return Reflect.apply(target, thisArg, args);
      },
    });
    const server = await startApi({ config, sql: countingSql, temporal: api.env.client, port: 0, logger: createLogger() });
    try {
      // a client that goes away: its socket closes after the first event
      let client: ClientRequest | undefined;
      const first = await new Promise<string>((resolve, reject) => {
        client = httpGet(`${server.url}/batches/${batch.id}/events`, { headers: { authorization: `Bearer ${API_KEY}` } }, (res) => {
          expect(res.statusCode).toBe(200);
          res.once('data', (chunk: Buffer) => resolve(chunk.toString()));
        });
        client.on('error', reject);
      });
      expect(first).toContain('event: progress');
      await new Promise((r) => setTimeout(r, 1_200));
      expect(queries).toBeGreaterThan(2); // it was polling
      client!.destroy();
      await new Promise((r) => setTimeout(r, 800));
      const afterAbort = queries;
      await new Promise((r) => setTimeout(r, 1_200));
      expect(queries).toBe(afterAbort);
    } finally {
      await server.close();
    }
    // the batch is unaffected and a new subscriber is told when it ends
    const again = await api.openEvents(batch.id);
    await again.waitFor((e) => e.event === 'progress');
    expect((await call('POST', `/batches/${batch.id}/cancel`)).status).toBe(202);
    expect(JSON.parse((await again.waitFor((e) => e.event === 'end')).data).status).toBe('cancelled');
    await again.ended;
  });
});
