/**
 * The HTTP API against real Postgres and a real Temporal dev server (no worker: signal-with-start only
 * records the queue workflow, and every batch transition is decided in Postgres). Requests go through
 * `app.request()`; only the server tests open a port.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { get as httpGet, type ClientRequest } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { startApi } from '../../src/api/server.js';
import { settleTemporalCalls } from '../../src/api/readiness.js';
import { createBatchControl } from '../../src/batch-control.js';
import { loadConfig } from '../../src/config.js';
import { createSql } from '../../src/db.js';
import { createLogger, setLogSink, type LogSink } from '../../src/logger.js';
import { claimNextBatch, completeBatch } from '../../src/repos/batches.js';
import { insertLog } from '../../src/repos/logs.js';
import { encodeCursor } from '../../src/repos/pagination.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createLocalEnv, uniqueIds } from '../helpers/temporal.js';
import { takeSseEvents } from '../helpers/sse.js';

const API_KEY = 'api-key-for-tests-7f3a9c';
const SECRETS = ['proxy-pass-A1b2C3', 'proxy-pass-D4e5F6', 'proxy-pass-G7h8I9', 'session-token-J1k2L3', 'session-token-M4n5O6'];
const config = loadConfig({ API_KEY, TEMPORAL_TASK_QUEUE: uniqueIds('api').taskQueue });

type App = ReturnType<typeof createApp>;
interface Res {
  status: number;
  // response bodies are whatever the API returns; each test asserts the fields it relies on
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  text: string;
  headers: Headers;
}

let db: TestDatabase;
let env: TestWorkflowEnvironment;
let app: App;
let previousSink: LogSink;
/** Every response body and log line of the file, searched for secrets at the end. */
const seen: string[] = [];
const logLines: string[] = [];

beforeAll(async () => {
  previousSink = setLogSink((line) => logLines.push(line));
  [db, env] = await Promise.all([createTestDatabase(), createLocalEnv()]);
  app = createApp({ sql: db.sql, temporal: env.client, config, logger: createLogger(), eventsIntervalMs: 50 });
});

afterAll(async () => {
  await env?.teardown();
  await db?.drop();
  setLogSink(previousSink);
});

beforeEach(async () => {
  await db.sql`truncate batch_logs, batch_profiles, batches, profiles, niches, sessions, proxies cascade`;
  await db.sql`update queue_state set paused = false`;
});

interface CallOptions {
  /** true: the right key; false: no header; a string: that Authorization header. */
  auth?: boolean | string;
  /** A raw body sent as is (JSON content type unless headers say otherwise). */
  raw?: string;
  headers?: Record<string, string>;
  target?: App;
}

async function call(method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<Res> {
  const headers: Record<string, string> = { ...options.headers };
  const auth = options.auth ?? true;
  if (auth === true) headers.authorization = `Bearer ${API_KEY}`;
  else if (typeof auth === 'string') headers.authorization = auth;
  let payload: string | undefined;
  if (options.raw !== undefined) payload = options.raw;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) headers['content-type'] ??= 'application/json';
  const res = await (options.target ?? app).request(path, { method, headers, body: payload });
  const text = await res.text();
  seen.push(text);
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

function expectError(res: Res, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(typeof res.body.error.message).toBe('string');
  expect(res.text).not.toMatch(/\n\s+at /); // no stack trace
}

async function addProfiles(usernames: string[], nicheId?: string): Promise<string[]> {
  const res = await call('POST', '/profiles', { usernames, ...(nicheId ? { niche_id: nicheId } : {}) });
  expect(res.status, res.text).toBe(201);
  return res.body.items.map((p: { id: string }) => p.id);
}

async function newBatch(body: Record<string, unknown>): Promise<{ id: string; status: string; position: number | null }> {
  const res = await call('POST', '/batches', body);
  expect(res.status, res.text).toBe(201);
  return res.body;
}

async function queuedIds(): Promise<string[]> {
  const res = await call('GET', '/queue');
  expect(res.status).toBe(200);
  res.body.queued.forEach((b: { position: number }, i: number) => expect(b.position).toBe(i + 1));
  return res.body.queued.map((b: { id: string }) => b.id);
}

/**
 * Records verified results as the checker would (row completed, batch counters, a STORY_CHECK_SUCCESS log,
 * in one transaction), written here in SQL so that these tests depend only on the queue transitions.
 */
async function markChecked(batchId: string, results: Array<{ profileId: string; hasStory: boolean }>): Promise<void> {
  await db.sql.begin(async (tx) => {
    for (const r of results) {
      await tx`
        update batch_profiles set status = 'completed', has_story = ${r.hasStory}, story_count = ${r.hasStory ? 1 : 0},
          attempts = 1, duration_ms = 5, checked_at = now()
        where batch_id = ${batchId} and profile_id = ${r.profileId}`;
      await insertLog(tx, {
        batchId,
        profileId: r.profileId,
        level: 'INFO',
        eventType: 'STORY_CHECK_SUCCESS',
        message: r.hasStory ? 'has an active story' : 'has no active story',
        details: { has_story: r.hasStory },
        durationMs: 5,
      });
    }
    const stories = results.filter((r) => r.hasStory).length;
    await tx`
      update batches set successful_checks = successful_checks + ${results.length}, stories_found = stories_found + ${stories}
      where id = ${batchId}`;
  });
}

/** Makes the batch done the way the runner would: claim, a verified result per profile, complete. */
async function finishBatch(batchId: string, profileIds: string[]): Promise<void> {
  const claimed = await claimNextBatch(db.sql);
  expect(claimed?.id).toBe(batchId);
  await markChecked(batchId, profileIds.map((profileId) => ({ profileId, hasStory: true })));
  const done = await completeBatch(db.sql, batchId);
  expect(done.status).toBe('done');
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work;
  return { value, ms: Date.now() - started };
}

describe('health and documentation', () => {
  it('answers /healthz and /readyz, and echoes request ids', async () => {
    const health = await call('GET', '/healthz', undefined, { auth: false });
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
    expect(health.headers.get('x-request-id')).toMatch(/^[\w-]{8,}$/);

    const ready = await call('GET', '/readyz', undefined, { auth: false, headers: { 'x-request-id': 'probe-42' } });
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', postgres: 'ok', temporal: 'ok' });
    expect(ready.headers.get('x-request-id')).toBe('probe-42');
  });

  it('serves a valid OpenAPI 3.1 document listing every route, and Swagger UI', async () => {
    const res = await call('GET', '/openapi.json', undefined, { auth: false });
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    expect(typeof doc.info.title).toBe('string');
    expect(typeof doc.info.version).toBe('string');
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });

    // every route the app serves is documented (except the document itself and the UI)
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries<Record<string, unknown>>(doc.paths)) {
      for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    const served = app.routes
      .filter((r) => r.method !== 'ALL' && !['/openapi.json', '/docs'].includes(r.path))
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    expect(new Set(served)).toEqual(documented);
    for (const route of [
      'POST /niches', 'GET /niches', 'POST /profiles', 'GET /profiles', 'GET /profiles/{id}', 'POST /proxies',
      'GET /proxies', 'GET /proxies/{id}', 'PATCH /proxies/{id}', 'DELETE /proxies/{id}', 'POST /sessions',
      'GET /sessions', 'DELETE /sessions/{id}', 'POST /batches', 'GET /batches', 'GET /batches/{id}',
      'POST /batches/{id}/start', 'POST /batches/{id}/pause', 'POST /batches/{id}/resume', 'POST /batches/{id}/cancel',
      'GET /batches/{id}/profiles', 'GET /batches/{id}/logs', 'GET /batches/{id}/events', 'GET /queue',
      'POST /queue/pause', 'POST /queue/resume', 'GET /healthz', 'GET /readyz',
    ]) {
      expect(documented, route).toContain(route);
    }

    // structurally valid: operations have responses, path parameters are declared, every $ref resolves
    for (const [path, ops] of Object.entries<Record<string, { responses: Record<string, { description: string }>; parameters?: Array<{ name: string; in: string }> }>>(doc.paths)) {
      expect(path.startsWith('/')).toBe(true);
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const op of Object.values(ops)) {
        expect(Object.keys(op.responses).length).toBeGreaterThan(0);
        for (const r of Object.values(op.responses)) expect(typeof r.description).toBe('string');
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        expect(declared.sort()).toEqual([...templated].sort());
      }
    }
    const refs = [...res.text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(doc.components.schemas, ref).toHaveProperty(ref);

    const docs = await call('GET', '/docs', undefined, { auth: false });
    expect(docs.status).toBe(200);
    expect(docs.text).toContain('swagger-ui');
    expect(docs.text).toContain('/openapi.json');
  });
});

describe('authentication', () => {
  it('requires the bearer key on every protected route of the OpenAPI document; the open ones stay open', async () => {
    const doc = (await call('GET', '/openapi.json', undefined, { auth: false })).body;
    let protectedCount = 0;
    for (const [path, ops] of Object.entries<Record<string, { security?: unknown[] }>>(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const url = path.replace(/\{\w+\}/g, randomUUID());
        const body = ['post', 'patch'].includes(method) ? {} : undefined;
        const isOpen = Array.isArray(op.security) && op.security.length === 0;
        const none = await call(method.toUpperCase(), url, body, { auth: false });
        if (isOpen) {
          expect(none.status, `${method} ${path}`).not.toBe(401);
          continue;
        }
        protectedCount++;
        expectError(none, 401, 'unauthorized');
        expect(none.headers.get('www-authenticate')).toBe('Bearer');
        expectError(await call(method.toUpperCase(), url, body, { auth: 'Bearer wrong-key' }), 401, 'unauthorized');
        expectError(await call(method.toUpperCase(), url, body, { auth: `Bearer ${API_KEY}x` }), 401, 'unauthorized');
        expectError(await call(method.toUpperCase(), url, body, { auth: `Basic ${API_KEY}` }), 401, 'unauthorized');
        const ok = await call(method.toUpperCase(), url, body, { auth: `bearer ${API_KEY}` });
        expect(ok.status, `${method} ${path}`).not.toBe(401);
      }
    }
    expect(protectedCount).toBeGreaterThanOrEqual(26);
    for (const open of ['/healthz', '/readyz', '/openapi.json', '/docs']) {
      expect((await call('GET', open, undefined, { auth: false })).status, open).toBe(200);
    }
  });

  it('leaves the API open when API_KEY is unset', async () => {
    const open = createApp({ sql: db.sql, temporal: env.client, config: loadConfig({}), logger: createLogger() });
    const res = await call('GET', '/niches', undefined, { auth: false, target: open });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ items: [], next_cursor: null });
  });
});

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
    const [count] = await db.sql<{ n: number }[]>`select count(*)::int as n from profiles`;
    expect(count!.n).toBe(0);

    const viaBatch = await call('POST', '/batches', { usernames: ['ok_name', 'not ok'] });
    expectError(viaBatch, 400, 'validation_error');
    expect(viaBatch.body.error.details.invalid_usernames).toEqual(['not ok']);
    const [after] = await db.sql<{ n: number }[]>`select (select count(*) from profiles) + (select count(*) from batches) as n`;
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

    const [count] = await db.sql<{ n: number }[]>`select count(*)::int as n from batches`;
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
      await insertLog(db.sql, { batchId: batch.id, level: 'INFO', eventType: 'CHECK_RETRY', message: `log ${i}` });
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
    const [count] = await db.sql<{ n: number }[]>`
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
    // 4096 characters outside the Basic Multilingual Plane: 8192 UTF-16 units, 16 kB of UTF-8
    const wide = [...Array(4096)].map((_, i) => String.fromCodePoint(0x1f600 + (i % 64))).join('') + randomUUID();
    expectError(await call('POST', '/sessions', { token: wide }), 400, 'validation_error');
    expect((await call('POST', '/sessions', { token: [...wide].slice(0, 4096).join('') })).status).toBe(201);
    expect((await call('GET', '/sessions')).body.items).toHaveLength(2);
  });
});

describe('method not allowed (405)', () => {
  it('answers another method on a known path with 405, an Allow header and the error shape', async () => {
    const id = randomUUID();
    const cases: Array<[string, string, string]> = [
      ['PUT', '/niches', 'GET, HEAD, POST'],
      ['PUT', `/niches/${id}`, 'GET, HEAD'],
      ['DELETE', '/queue', 'GET, HEAD'],
      ['GET', '/queue/pause', 'POST'],
      ['PATCH', `/batches/${id}/start`, 'POST'],
      ['POST', `/proxies/${id}`, 'DELETE, GET, HEAD, PATCH'],
      ['OPTIONS', '/sessions', 'GET, HEAD, POST'],
      ['DELETE', '/healthz', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await call(method, path);
      expectError(res, 405, 'method_not_allowed');
      expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow);
    }
    expect((await call('HEAD', '/niches')).status).toBe(200);
    expectError(await call('PUT', '/no/such/route'), 404, 'not_found');
    // still behind the key
    expectError(await call('PUT', '/niches', undefined, { auth: false }), 401, 'unauthorized');
  });

  it('documents what the server answers: 405 everywhere, 415 with a body, a nullable running batch, one batch source', async () => {
    const doc = (await call('GET', '/openapi.json', undefined, { auth: false })).body;
    for (const [path, ops] of Object.entries<Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>>(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(Object.keys(op.responses), `${method} ${path}`).toContain('405');
        if (op.requestBody) expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['400', '413', '415']));
      }
    }
    expect(doc.components.schemas.Queue.properties.running.anyOf).toEqual([{ $ref: '#/components/schemas/Batch' }, { type: 'null' }]);
    expect(doc.components.schemas.CreateBatch.oneOf).toEqual([
      { required: ['profile_ids'] },
      { required: ['niche_id'] },
      { required: ['usernames'] },
    ]);
    expect(doc.components.schemas.CreateSession.properties.token).toMatchObject({ maxLength: 4096 });
    const queue = await call('GET', '/queue');
    expect(queue.body.running).toBeNull();
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
    expect((await claimNextBatch(db.sql))?.id).toBe(running.id);

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
    expectError(await call('POST', '/profiles', undefined, { raw: huge }), 413, 'payload_too_large');

    const server = await startApi({ config, sql: db.sql, temporal: env.client, port: 0, logger: createLogger() });
    try {
      const res = await fetch(`${server.url}/profiles`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: huge,
      });
      const text = await res.text();
      seen.push(text);
      expect(res.status).toBe(413);
      expect(JSON.parse(text).error.code).toBe('payload_too_large');
    } finally {
      await server.close();
    }
    const [count] = await db.sql<{ n: number }[]>`select count(*)::int as n from profiles`;
    expect(count!.n).toBe(0);
  });
});

describe('unavailable (503) and internal (500)', () => {
  it('answers 503 promptly when Postgres is unreachable', async () => {
    const deadSql = createSql(`postgres://postgres@127.0.0.1:${await closedPort()}/storycheck`, { connectTimeout: 2 });
    const broken = createApp({ sql: deadSql, temporal: env.client, config, logger: createLogger() });
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
    const broken = createApp({ sql: db.sql, temporal: deadTemporal, config, logger: createLogger() });
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
      const [state] = await db.sql<{ status: string; n: number; paused: boolean }[]>`
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
    const real = createBatchControl({ sql: db.sql, temporal: env.client, taskQueue: config.TEMPORAL_TASK_QUEUE, logger: createLogger() });
    const failing = createApp({
      sql: db.sql,
      temporal: env.client,
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
    expect(logLines.some((l) => l.includes('req-500') && l.includes('kaboom'))).toBe(true);
  });
});

describe('resources', () => {
  it('creates and lists niches, profiles, proxies and sessions with their documented shapes', async () => {
    const niche = (await call('POST', '/niches', { name: 'food' })).body;
    expect(niche).toEqual({ id: expect.any(String), name: 'food', created_at: expect.stringMatching(/Z$/) });
    const created = await call('POST', '/profiles', { usernames: ['@Chef.One', 'chef_two', 'chef.one'], niche_id: niche.id });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ created: 2, existing: 0 });
    expect(created.body.items.map((p: { username: string }) => p.username)).toEqual(['chef.one', 'chef_two']);
    const again = await call('POST', '/profiles', { usernames: ['chef_two', 'chef_three'] });
    expect(again.body).toMatchObject({ created: 1, existing: 1 });
    const profile = created.body.items[0];
    expect(Object.keys(profile).sort()).toEqual(
      ['active_story', 'created_at', 'id', 'last_checked_at', 'last_story_detected', 'niche_id', 'total_checks', 'total_detections', 'username'],
    );
    expect((await call('GET', `/profiles/${profile.id}`)).body).toEqual(profile);
    expect((await call('GET', `/profiles?niche_id=${niche.id}`)).body.items).toHaveLength(2);
    expect((await call('GET', '/profiles?active_story=true')).body.items).toHaveLength(0);

    // pages walk the whole list
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Res = await call('GET', `/profiles?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.body.items.length).toBeLessThanOrEqual(1);
      names.push(...page.body.items.map((p: { username: string }) => p.username));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(names.sort()).toEqual(['chef.one', 'chef_three', 'chef_two']);

    const proxy = await call('POST', '/proxies', { url: 'http://127.0.0.1:18081', username: 'me', password: SECRETS[2] });
    expect(proxy.status).toBe(201);
    expect(proxy.body).toMatchObject({ url: 'http://127.0.0.1:18081', status: 'active', success_count: 0 });
    expect(Object.keys(proxy.body)).not.toContain('password');
    expectError(await call('POST', '/proxies', { url: `socks5://u:${SECRETS[1]}@127.0.0.1:1080` }), 400, 'validation_error');
    expectError(await call('POST', '/proxies', { url: `http://u:${SECRETS[1]}@127.0.0.1:1080/path` }), 400, 'validation_error');
    expect((await call('PATCH', `/proxies/${proxy.body.id}`, { status: 'disabled' })).body.status).toBe('disabled');
    expect((await call('GET', `/proxies/${proxy.body.id}`)).body.status).toBe('disabled');
    expect((await call('GET', '/proxies')).body.items).toHaveLength(1);

    const session = await call('POST', '/sessions', { token: SECRETS[4], proxy_id: proxy.body.id });
    expect(session.status).toBe(201);
    expect(Object.keys(session.body).sort()).toEqual(['created_at', 'id', 'last_used_at', 'proxy_id', 'status']);
    expect((await call('GET', '/sessions')).body.items).toHaveLength(1);
    expect((await call('GET', `/sessions/${session.body.id}`)).body.status).toBe('valid');

    const deleted = await call('DELETE', `/sessions/${session.body.id}`);
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect((await call('DELETE', `/proxies/${proxy.body.id}`)).status).toBe(204);
    expect((await call('GET', '/proxies')).body).toEqual({ items: [], next_cursor: null });
  });
});

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
    expect((await claimNextBatch(db.sql))?.id).toBe(held.id);
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
      attempts: 0, proxy_id: null, duration_ms: null, checked_at: null,
    });
    const firstOnly = (await call('GET', `/batches/${fromIds.id}/profiles?limit=1`)).body;
    const second = (await call('GET', `/batches/${fromIds.id}/profiles?limit=1&cursor=${firstOnly.next_cursor}`)).body;
    expect(second.items.map((p: { username: string }) => p.username)).toEqual(['m1']);
    expect((await call('GET', `/batches/${fromIds.id}/profiles?status=completed`)).body.items).toHaveLength(0);

    const fromNames = await newBatch({ usernames: ['M2', 'new.one', '@new_two'] });
    expect(fromNames).toMatchObject({ total_profiles: 3 });
    const names = (await call('GET', `/batches/${fromNames.id}/profiles`)).body.items.map((p: { username: string }) => p.username);
    expect(names).toEqual(['m2', 'new.one', 'new_two']);
    const [count] = await db.sql<{ n: number }[]>`select count(*)::int as n from profiles`;
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
    await claimNextBatch(db.sql);

    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const actions = ['start', 'pause', 'resume', 'cancel', 'start', 'resume'];
    const requests = Array.from({ length: 50 }, async (_, i) => {
      // the runner claims now and then, concurrently with the API
      if (i % 10 === 0) await claimNextBatch(db.sql);
      return call('POST', `/batches/${batches[rand(batches.length)]}/${actions[rand(actions.length)]}`);
    });
    const results = await Promise.all(requests);
    for (const res of results) {
      expect([202, 409], res.text).toContain(res.status);
      if (res.status === 409) expect(['conflict', 'batch_running']).toContain(res.body.error.code);
    }
    expect(results.filter((r) => r.status === 202).length).toBeGreaterThan(5);

    const rows = await db.sql<{ status: string; position: number | null }[]>`select status, position from batches`;
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

/** Reads a text/event-stream body into events as they arrive. */
class SseReader {
  readonly events: Array<{ event: string; data: string; id?: string }> = [];
  readonly ended: Promise<void>;
  private waiters: Array<() => void> = [];

  constructor(body: ReadableStream<Uint8Array>) {
    this.ended = this.pump(body.getReader());
  }

  private async pump(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const taken = takeSseEvents(buffer);
      buffer = taken.rest;
      if (taken.events.length) {
        seen.push(...taken.events.map((e) => e.data));
        this.events.push(...taken.events);
        this.waiters.splice(0).forEach((w) => w());
      }
    }
    this.waiters.splice(0).forEach((w) => w());
  }

  /** The first event matching `predicate`, waiting for it up to `timeoutMs`. */
  async waitFor(predicate: (e: { event: string; data: string }) => boolean, timeoutMs = 5_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`event not seen; got ${this.events.map((e) => e.event).join(', ')}`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), new Promise((r) => setTimeout(r, 100))]);
    }
  }
}

async function openEvents(batchId: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const res = await app.request(`/batches/${batchId}/events`, { headers: { authorization: `Bearer ${API_KEY}`, ...headers } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  return new SseReader(res.body!);
}

describe('live events (SSE)', () => {
  it('streams progress and new logs, and ends when the batch is done', async () => {
    const ids = await addProfiles(['s1', 's2']);
    const batch = await newBatch({ profile_ids: ids });
    const stream = await openEvents(batch.id);

    const first = await stream.waitFor((e) => e.event === 'progress');
    expect(JSON.parse(first.data)).toMatchObject({ id: batch.id, status: 'queued', completed_profiles: 0 });

    await claimNextBatch(db.sql);
    await stream.waitFor((e) => e.event === 'progress' && JSON.parse(e.data).status === 'running');
    const started = await stream.waitFor((e) => e.event === 'log' && JSON.parse(e.data).event_type === 'BATCH_STARTED');
    expect(Number(started.id)).toBeGreaterThan(0);

    await markChecked(batch.id, [{ profileId: ids[0]!, hasStory: true }]);
    await stream.waitFor((e) => e.event === 'progress' && JSON.parse(e.data).successful_checks === 1);
    const success = await stream.waitFor((e) => e.event === 'log' && JSON.parse(e.data).event_type === 'STORY_CHECK_SUCCESS');
    expect(JSON.parse(success.data)).toMatchObject({ profile_id: ids[0], details: { has_story: true } });

    await markChecked(batch.id, [{ profileId: ids[1]!, hasStory: false }]);
    await completeBatch(db.sql, batch.id);
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
    const stream = await openEvents(held.id, { 'last-event-id': '0' });
    await stream.ended;
    expect(stream.events.map((e) => e.event)).toEqual(['log', 'progress', 'end']);
    expect(JSON.parse(stream.events[0]!.data).event_type).toBe('BATCH_QUEUED');
    expect(JSON.parse(stream.events[2]!.data)).toMatchObject({ status: 'paused', position: null });
  });

  it('stops polling when the client goes away (over a real connection)', async () => {
    const batch = await newBatch({ usernames: ['s4'] });
    // counts the queries the server runs, to see the stream's polling stop
    let queries = 0;
    const countingSql = new Proxy(db.sql, {
      apply(target, thisArg, args) {
        queries++;
        return Reflect.apply(target, thisArg, args);
      },
    });
    const server = await startApi({ config, sql: countingSql, temporal: env.client, port: 0, logger: createLogger() });
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
    const again = await openEvents(batch.id);
    await again.waitFor((e) => e.event === 'progress');
    expect((await call('POST', `/batches/${batch.id}/cancel`)).status).toBe(202);
    expect(JSON.parse((await again.waitFor((e) => e.event === 'end')).data).status).toBe('cancelled');
    await again.ended;
  });
});

describe('secrets', () => {
  it('never returns a password, token or the API key in any response body or log line', async () => {
    // exercise every route that touches credentials once more, then search everything seen in this file
    await call('POST', '/proxies', { url: `https://user:${SECRETS[0]}@10.0.0.1:3128` });
    await call('POST', '/proxies', { url: `https://user:${SECRETS[0]}@10.0.0.1:3128` });
    await call('POST', '/proxies', { url: 'http://10.0.0.2:3128', password: SECRETS[1] });
    await call('POST', '/proxies', { url: `ftp://user:${SECRETS[1]}@10.0.0.3:21` });
    await call('POST', '/sessions', { token: SECRETS[3] });
    await call('POST', '/sessions', { token: SECRETS[3] });
    await call('GET', '/proxies');
    await call('GET', '/sessions');
    expect(seen.length).toBeGreaterThan(100);
    for (const secret of [...SECRETS, API_KEY]) {
      for (const body of seen) expect(body).not.toContain(secret);
      for (const line of logLines) expect(line).not.toContain(secret);
    }
  });
});
