/**
 * Requests the API refuses before changing anything: malformed or ill-typed input (400), values Postgres
 * cannot store (400, never 500), cursors outside their documented format, and unknown resources (404).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { insertLog } from '../../../src/repos/logs.js';
import { encodeCursor } from '../../../src/repos/pagination.js';
import { expectError, startApiUnderTest, type Res } from '../../helpers/api.js';
import { batchFixtures } from './fixtures.js';

const api = startApiUnderTest({ temporal: true });
const call = api.call.bind(api);
afterAll(() => api.expectNoSecrets());
const { addProfiles, newBatch } = batchFixtures(api);

describe('validation errors (400)', () => {
  it('rejects bad JSON and wrong types, saying which', async () => {
    const bad = await call('POST', '/niches', undefined, { raw: '{"name": ' });
    expectError(bad, 400, 'validation_error');
    expect(bad.body.error.details).toMatchObject({ in: 'body' });

    const wrongType = await call('POST', '/niches', { name: 42 });
    expectError(wrongType, 400, 'validation_error');
    expect(wrongType.body.error.details.issues[0]).toMatchObject({ in: 'body', path: 'name' });

    const batch = await call('POST', '/batches', { usernames: ['a'], priority: 'high', hold: 'yes' });
    expectError(batch, 400, 'validation_error');
    expect(batch.body.error.details.issues.map((i: { path: string }) => i.path).sort()).toEqual(['hold', 'priority']);

    expectError(await call('POST', '/batches', { profile_ids: ['not-a-uuid'] }), 400, 'validation_error');
    expectError(await call('PATCH', `/proxies/${randomUUID()}`, { status: 'cooling_down' }), 400, 'validation_error');
    expectError(await call('POST', '/profiles', { usernames: 'alice' }), 400, 'validation_error');
    expectError(await call('POST', '/profiles', { usernames: [] }), 400, 'validation_error');
    expectError(await call('GET', '/profiles?active_story=maybe'), 400, 'validation_error');
    expectError(await call('GET', '/batches?status=sleeping'), 400, 'validation_error');
    expectError(await call('GET', `/batches/${randomUUID()}/logs?level=DEBUG`), 400, 'validation_error');
    for (const limit of ['0', '1001', 'abc', '1.5']) {
      const res = await call('GET', `/niches?limit=${limit}`);
      expectError(res, 400, 'validation_error');
      expect(res.body.error.details.issues[0]).toMatchObject({ in: 'query', path: 'limit' });
    }
    // a body that is not JSON at all
    const text = await call('POST', '/niches', undefined, { raw: 'name=x', headers: { 'content-type': 'text/plain' } });
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe('unsupported_media_type');
  });

  it('rejects invalid usernames naming every one, and inserts nothing', async () => {
    const res = await call('POST', '/profiles', {
      usernames: ['good.one', 'bad name', '@Fine_User', 'x'.repeat(31), '', 'émile', 'also_good'],
    });
    expectError(res, 400, 'validation_error');
    expect(res.body.error.details.invalid_usernames).toEqual(['bad name', 'x'.repeat(31), '', 'émile']);
    const [count] = await api.db.sql<{ n: number }[]>`select count(*)::int as n from profiles`;
    expect(count!.n).toBe(0);

    const viaBatch = await call('POST', '/batches', { usernames: ['ok_name', 'not ok'] });
    expectError(viaBatch, 400, 'validation_error');
    expect(viaBatch.body.error.details.invalid_usernames).toEqual(['not ok']);
    const [after] = await api.db.sql<{ n: number }[]>`select (select count(*) from profiles) + (select count(*) from batches) as n`;
    expect(after!.n).toBe(0);
  });

  it('needs exactly one source and a non-empty selection of known profiles', async () => {
    const [id] = await addProfiles(['solo']);
    const niche = (await call('POST', '/niches', { name: 'empty niche' })).body;

    const none = await call('POST', '/batches', { name: 'nothing' });
    expectError(none, 400, 'validation_error');
    const several = await call('POST', '/batches', { profile_ids: [id], usernames: ['solo'] });
    expectError(several, 400, 'validation_error');
    expect(several.body.error.details.sources).toEqual(['profile_ids', 'usernames']);
    expectError(await call('POST', '/batches', { niche_id: niche.id, usernames: ['solo'] }), 400, 'validation_error');

    for (const body of [{ profile_ids: [] }, { usernames: [] }, { niche_id: niche.id }]) {
      const res = await call('POST', '/batches', body);
      expectError(res, 400, 'validation_error');
      expect(res.body.error.message).toMatch(/no profiles/);
    }

    const unknownIds = [randomUUID(), randomUUID()];
    const unknown = await call('POST', '/batches', { profile_ids: [id, ...unknownIds] });
    expectError(unknown, 400, 'validation_error');
    expect(unknown.body.error.details.unknown_profile_ids).toEqual(unknownIds);

    const missingNiche = randomUUID();
    const noNiche = await call('POST', '/batches', { niche_id: missingNiche });
    expectError(noNiche, 400, 'validation_error');
    expect(noNiche.body.error.details).toEqual({ niche_id: missingNiche });
    expectError(await call('POST', '/profiles', { usernames: ['x1'], niche_id: missingNiche }), 400, 'validation_error');
    expectError(await call('POST', '/sessions', { token: 'tok-1234', proxy_id: randomUUID() }), 400, 'validation_error');

    const [count] = await api.db.sql<{ n: number }[]>`select count(*)::int as n from batches`;
    expect(count!.n).toBe(0);
  });

  it('rejects a cursor outside its documented format on every list, and accepts any inside it', async () => {
    const batch = await newBatch({ usernames: ['c1'], hold: true });
    const doc = (await call('GET', '/openapi.json', undefined, { auth: false })).body;
    const lists = ['/niches', '/profiles', '/proxies', '/sessions', '/batches', `/batches/${batch.id}/profiles`, `/batches/${batch.id}/logs`];
    // the base64url JSON keys the lists once took, and strings of no list's format
    const forged = ['not base64 at all!', encodeCursor([{ x: 1 }]), encodeCursor(['2026-01-01T00:00:00.000Z', randomUUID()]), '', '-1'];
    for (const list of lists) {
      const template = list.replace(batch.id, '{id}');
      const param = doc.paths[template].get.parameters.find((p: { name: string }) => p.name === 'cursor');
      const pattern = new RegExp(param.schema.pattern);
      for (const cursor of forged.filter((f) => !pattern.test(f))) {
        const res = await call('GET', `${list}?cursor=${encodeURIComponent(cursor)}`);
        expectError(res, 400, 'validation_error');
        expect(res.body.error.details.issues[0]).toMatchObject({ in: 'query', path: 'cursor' });
      }
    }
    // anything the pattern admits is a place to resume from (the old format answered 500 or 400 to these)
    const accepted: Array<[string, string]> = [
      ['/niches', Buffer.from('a\u0000b').toString('base64url')],
      ['/niches', 'AA'],
      ['/proxies', '____'],
      ['/profiles', randomUUID().toUpperCase()],
      ['/sessions', randomUUID()],
      ['/batches', `0_${randomUUID()}`],
      ['/batches', `99999999999999_${randomUUID()}`],
      [`/batches/${batch.id}/profiles`, '999999999'],
      [`/batches/${batch.id}/logs`, '999999999999999'],
    ];
    for (const [list, cursor] of accepted) {
      const res = await call('GET', `${list}?cursor=${cursor}`);
      expect(res.status, `${list} ${cursor}: ${res.text}`).toBe(200);
    }
  });

  it('pages every list with cursors of the documented format', async () => {
    await addProfiles(['p1', 'p2', 'p3']);
    for (const name of ['n1', 'n2', 'ñame ☃ 3']) expect((await call('POST', '/niches', { name })).status).toBe(201);
    for (const port of [1, 2, 3]) expect((await call('POST', '/proxies', { url: `http://127.0.0.1:1808${port}` })).status).toBe(201);
    for (const t of ['tok-a-1234', 'tok-b-1234', 'tok-c-1234']) expect((await call('POST', '/sessions', { token: t })).status).toBe(201);
    const batch = await newBatch({ usernames: ['p1', 'p2', 'p3'], hold: true });
    const batches = [batch.id, (await newBatch({ usernames: ['p1'], hold: true })).id, (await newBatch({ usernames: ['p2'], hold: true })).id];
    for (let i = 0; i < 3; i++) {
      await insertLog(api.db.sql, { batchId: batch.id, level: 'INFO', eventType: 'CHECK_RETRY', message: `log ${i}` });
    }
    const doc = (await call('GET', '/openapi.json', undefined, { auth: false })).body;
    const lists = ['/niches', '/profiles', '/proxies', '/sessions', '/batches', `/batches/${batch.id}/profiles`, `/batches/${batch.id}/logs`];
    for (const list of lists) {
      const param = doc.paths[list.replace(batch.id, '{id}')].get.parameters.find((p: { name: string }) => p.name === 'cursor');
      const pattern = new RegExp(param.schema.pattern);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: Res = await call('GET', `${list}?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status, res.text).toBe(200);
        seen.push(...res.body.items.map((i: { id?: string; profile_id?: string }) => i.id ?? i.profile_id));
        cursor = res.body.next_cursor;
        if (cursor !== null) expect(cursor, list).toMatch(pattern);
      } while (cursor !== null);
      expect(new Set(seen).size, list).toBe(seen.length);
      expect(seen.length, list).toBeGreaterThanOrEqual(3);
    }
    expect(batches).toHaveLength(3);
  });
});

describe('input Postgres cannot store (400, never 500)', () => {
  const nul = 'a\u0000b';

  it('refuses NUL characters and over-long values, naming the field', async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/niches', { name: nul }, 'name'],
      ['POST', '/niches', { name: 'n'.repeat(201) }, 'name'],
      ['POST', '/batches', { name: nul, usernames: ['ok_user'], hold: true }, 'name'],
      ['POST', '/batches', { name: 'b'.repeat(201), usernames: ['ok_user'], hold: true }, 'name'],
      ['POST', '/sessions', { token: nul }, 'token'],
      ['POST', '/sessions', { token: 't'.repeat(4097) }, 'token'],
      ['POST', '/sessions', { token: '  \n ' }, 'token'],
      ['POST', '/proxies', { url: 'http://127.0.0.1:18090', username: nul, password: 'pw' }, 'username'],
      ['POST', '/proxies', { url: 'http://127.0.0.1:18090', username: 'me', password: nul }, 'password'],
      ['POST', '/proxies', { url: 'http://me:a%00b@127.0.0.1:18090' }, 'url'],
      ['POST', '/proxies', { url: 'http://127.0.0.1:18090', username: '' }, 'username'],
      ['POST', '/proxies', { url: `http://127.0.0.1:18090/${'x'.repeat(3000)}` }, 'url'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await call(method, path, body);
      expectError(res, 400, 'validation_error');
      expect(res.body.error.details.issues.map((i: { path: string }) => i.path), `${path} ${JSON.stringify(body).slice(0, 80)}`).toContain(field);
    }
    for (const usernames of [[nul], ['u'.repeat(31)], [`${' '.repeat(40)}user`], ['\u212Aelvin']]) {
      const res = await call('POST', '/profiles', { usernames });
      expectError(res, 400, 'validation_error');
      expect(res.body.error.details.invalid_usernames).toEqual(usernames);
    }
    for (const query of [`event_type=A%00`, `cursor=${'9'.repeat(16)}`]) {
      const batch = await newBatch({ usernames: ['q_user'], hold: true });
      expectError(await call('GET', `/batches/${batch.id}/logs?${query}`), 400, 'validation_error');
    }
    const [count] = await api.db.sql<{ n: number }[]>`
      select (select count(*) from niches) + (select count(*) from sessions) + (select count(*) from proxies) as n`;
    expect(Number(count!.n)).toBe(0);
  });

  it('stores a session token of the documented maximum, counted in characters, and still refuses it twice', async () => {
    // random, so that Postgres cannot compress it below the 2.7 kB a btree entry holds
    const token = randomBytes(3072).toString('base64');
    expect(token).toHaveLength(4096);
    const first = await call('POST', '/sessions', { token });
    expect(first.status, first.text).toBe(201);
    expectError(await call('POST', '/sessions', { token }), 409, 'conflict');
    expect((await call('GET', '/sessions')).body.items).toHaveLength(1);
  });

  it('refuses a session token that could not be sent as a cookie (a pasted line break, a space, a non-Latin-1 character), saying why', async () => {
    for (const token of ['pasted\r\ntoken', 'two words', 'tök3n-with-umlaut', 'a;b', 'emoji-\u{1f600}', 'quote"d']) {
      const res = await call('POST', '/sessions', { token });
      expectError(res, 400, 'validation_error');
      expect(JSON.stringify(res.body.error.details.issues)).toMatch(/cookie value/);
    }
    // what a real sessionid looks like: percent-encoded colons are cookie characters
    expect((await call('POST', '/sessions', { token: '1234567890%3AaBcDeF%3A12%3AAYd-x_y.z' })).status).toBe(201);
    expect((await call('GET', '/sessions')).body.items).toHaveLength(1);
  });
});

describe('not found (404)', () => {
  it('answers 404 for unknown resources and routes', async () => {
    const id = randomUUID();
    for (const path of [
      `/batches/${id}`, '/batches/not-a-uuid', `/batches/${id}/profiles`, '/batches/nope/profiles', `/batches/${id}/logs`,
      `/batches/${id}/events`, `/profiles/${id}`, `/proxies/${id}`, `/niches/${id}`, `/sessions/${id}`, '/no/such/route',
    ]) {
      expectError(await call('GET', path), 404, 'not_found');
    }
    expectError(await call('DELETE', `/proxies/${id}`), 404, 'not_found');
    expectError(await call('DELETE', `/sessions/${id}`), 404, 'not_found');
    expectError(await call('POST', `/batches/${id}/start`), 404, 'not_found');
    expectError(await call('POST', `/batches/${id}/cancel`), 404, 'not_found');
  });
});
