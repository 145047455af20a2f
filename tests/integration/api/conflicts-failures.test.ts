/**
 * The API's answers when a request cannot be served: conflicts (409), bodies over the limit (413), Postgres or
 * Temporal unreachable (503, promptly, before changing anything) and unexpected failures (a bare 500).
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/api/app.js';
import { startApi } from '../../../src/api/server.js';
import { settleTemporalCalls } from '../../../src/api/readiness.js';
import { createBatchControl } from '../../../src/queue/batch-control.js';
import { createSql } from '../../../src/db/sql.js';
import { createLogger } from '../../../src/logging/logger.js';
import { claimNextBatch } from '../../../src/repos/queue.js';
import { API_KEY, expectError, startApiUnderTest } from '../../helpers/api.js';
import { batchFixtures, closedPort, SECRETS, timed } from './fixtures.js';

const api = startApiUnderTest({ temporal: true });
const call = api.call.bind(api);
afterAll(() => api.expectNoSecrets());
const { config } = api;
const { addProfiles, newBatch, finishBatch } = batchFixtures(api);

describe('conflicts (409)', () => {
  it('rejects duplicate niches, proxies and sessions', async () => {
    expect((await call('POST', '/niches', { name: 'travel' })).status).toBe(201);
    expectError(await call('POST', '/niches', { name: '  travel ' }), 409, 'conflict');

    expect((await call('POST', '/proxies', { url: `http://u:${SECRETS[0]}@127.0.0.1:18080` })).status).toBe(201);
    // the same host:port, whatever the credentials
    expectError(await call('POST', '/proxies', { url: `http://v:${SECRETS[1]}@127.0.0.1:18080` }), 409, 'conflict');

    expect((await call('POST', '/sessions', { token: SECRETS[3] })).status).toBe(201);
    expectError(await call('POST', '/sessions', { token: SECRETS[3] }), 409, 'conflict');
  });

  it('refuses a start while another batch runs (batch_running), and illegal transitions', async () => {
    const ids = await addProfiles(['r1', 'r2', 'r3']);
    const running = await newBatch({ profile_ids: [ids[0]] });
    const other = await newBatch({ profile_ids: [ids[1]] });
    expect((await claimNextBatch(api.db.sql))?.id).toBe(running.id);

    const res = await call('POST', `/batches/${other.id}/start`);
    expectError(res, 409, 'batch_running');
    expect(res.body.error.details.running_batch_id).toBe(running.id);
    // starting the running batch itself is harmless
    expect((await call('POST', `/batches/${running.id}/start`)).body.status).toBe('running');

    const held = await newBatch({ profile_ids: [ids[2]], hold: true });
    expectError(await call('POST', `/batches/${held.id}/pause`), 409, 'conflict');
    expectError(await call('POST', `/batches/${other.id}/resume`), 409, 'conflict');
  });

  it('refuses to move a done batch, and to start a cancelled one', async () => {
    const ids = await addProfiles(['d1', 'd2']);
    const batch = await newBatch({ profile_ids: ids });
    await finishBatch(batch.id, ids);
    const done = (await call('GET', `/batches/${batch.id}`)).body;
    expect(done).toMatchObject({ status: 'done', position: null, completed_profiles: 2, completion_rate: 1, stories_found: 2 });
    for (const action of ['start', 'pause', 'resume', 'cancel']) {
      expectError(await call('POST', `/batches/${batch.id}/${action}`), 409, 'conflict');
    }

    const other = await newBatch({ usernames: ['d3'] });
    expect((await call('POST', `/batches/${other.id}/cancel`)).status).toBe(202);
    expectError(await call('POST', `/batches/${other.id}/start`), 409, 'conflict');
    expectError(await call('POST', `/batches/${other.id}/pause`), 409, 'conflict');
  });
});

describe('payload too large (413)', () => {
  it('rejects a body over the limit, streamed or with a Content-Length', async () => {
    const huge = JSON.stringify({ usernames: Array.from({ length: 700_000 }, (_, i) => `user_${i}`) });
    expect(huge.length).toBeGreaterThan(8 * 1024 * 1024);
    const tooLarge = await call('POST', '/profiles', undefined, { raw: huge });
    expectError(tooLarge, 413, 'payload_too_large');
    // says what the limit is, so a client knows how to split its request
    expect(tooLarge.body.error.message).toMatch(/too large: at most 8 MB .*100000 profile ids or usernames/);

    const server = await startApi({ config, sql: api.db.sql, temporal: api.env.client, port: 0, logger: createLogger() });
    try {
      const res = await fetch(`${server.url}/profiles`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: huge,
      });
      const text = await res.text();
      api.bodies.push(text);
      expect(res.status).toBe(413);
      expect(JSON.parse(text).error.code).toBe('payload_too_large');
    } finally {
      await server.close();
    }
    const [count] = await api.db.sql<{ n: number }[]>`select count(*)::int as n from profiles`;
    expect(count!.n).toBe(0);
  });
});

describe('unavailable (503) and internal (500)', () => {
  it('answers 503 promptly when Postgres is unreachable', async () => {
    const deadSql = createSql(`postgres://postgres@127.0.0.1:${await closedPort()}/storycheck`, { connectTimeout: 2 });
    const broken = createApp({ sql: deadSql, temporal: api.env.client, config, logger: createLogger() });
    try {
      for (const [method, path, body] of [
        ['GET', '/niches'],
        ['POST', '/niches', { name: 'x' }],
        ['GET', `/batches/${randomUUID()}`],
        ['POST', `/batches/${randomUUID()}/start`],
        ['POST', '/batches', { usernames: ['someone'] }],
        ['GET', '/queue'],
      ] as Array<[string, string, unknown?]>) {
        const { value: res, ms } = await timed(call(method, path, body, { target: broken }));
        expectError(res, 503, 'unavailable');
        expect(res.body.error.details).toEqual({ component: 'postgres' });
        expect(ms).toBeLessThan(3_000);
      }
      const { value: ready, ms } = await timed(call('GET', '/readyz', undefined, { target: broken, auth: false }));
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ status: 'unavailable', postgres: 'unavailable', temporal: 'ok' });
      expect(ready.body.error).toMatchObject({ code: 'unavailable', details: { failing: ['postgres'] } });
      expect(ms).toBeLessThan(3_000);
    } finally {
      await deadSql.end({ timeout: 1 });
    }
  });

  it('answers 503 promptly when Temporal is unreachable, before changing anything', async () => {
    const connection = Connection.lazy({ address: `127.0.0.1:${await closedPort()}`, connectTimeout: 1_000 });
    const deadTemporal = new Client({ connection });
    const broken = createApp({ sql: api.db.sql, temporal: deadTemporal, config, logger: createLogger() });
    try {
      const [id] = await addProfiles(['t1']);
      const held = await newBatch({ profile_ids: [id], hold: true });

      for (const [method, path, body] of [
        ['POST', `/batches/${held.id}/start`],
        ['POST', `/batches/${held.id}/resume`],
        ['POST', `/batches/${held.id}/cancel`],
        ['POST', '/batches', { profile_ids: [id] }],
        ['POST', '/queue/pause'],
      ] as Array<[string, string, unknown?]>) {
        const { value: res, ms } = await timed(call(method, path, body, { target: broken }));
        expectError(res, 503, 'unavailable');
        expect(res.body.error.details).toEqual({ component: 'temporal' });
        expect(ms).toBeLessThan(5_000);
      }
      // nothing changed: the batch is still held, no batch was added, the queue runs
      const [state] = await api.db.sql<{ status: string; n: number; paused: boolean }[]>`
        select (select status from batches where id = ${held.id}) as status, (select count(*)::int from batches) as n,
               (select paused from queue_state) as paused`;
      expect(state).toEqual({ status: 'paused', n: 1, paused: false });

      // what needs only Postgres keeps working
      expect((await call('GET', '/niches', undefined, { target: broken })).status).toBe(200);
      expect((await call('POST', '/batches', { profile_ids: [id], hold: true }, { target: broken })).status).toBe(201);

      const { value: ready, ms } = await timed(call('GET', '/readyz', undefined, { target: broken, auth: false }));
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ postgres: 'ok', temporal: 'unavailable', error: { details: { failing: ['temporal'] } } });
      expect(ms).toBeLessThan(3_500);
    } finally {
      await settleTemporalCalls(deadTemporal);
      await connection.close();
    }
  });

  it('answers an unexpected failure with a bare 500 carrying the request id, and logs it', async () => {
    const real = createBatchControl({ sql: api.db.sql, temporal: api.env.client, taskQueue: config.TEMPORAL_TASK_QUEUE, logger: createLogger() });
    const failing = createApp({
      sql: api.db.sql,
      temporal: api.env.client,
      config,
      logger: createLogger(),
      batchControl: {
        ...real,
        start: async () => {
          throw new TypeError('kaboom at the core');
        },
      },
    });
    const res = await call('POST', `/batches/${randomUUID()}/start`, undefined, { target: failing, headers: { 'x-request-id': 'req-500' } });
    expectError(res, 500, 'internal');
    expect(res.body.error.message).toContain('req-500');
    expect(res.headers.get('x-request-id')).toBe('req-500');
    expect(res.text).not.toContain('kaboom');
    expect(api.logLines.some((l) => l.includes('req-500') && l.includes('kaboom'))).toBe(true);
  });
});
