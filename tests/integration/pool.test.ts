import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { Sql } from '../../src/db/sql.js';
import { setLogSink, type LogSink } from '../../src/logging/logger.js';
import { createDatabaseClock } from '../../src/pool/database-clock.js';
import { createProxyPool, type Lease, type PoolStats, type ProxyPool } from '../../src/pool/pool.js';
import { listLogs } from '../../src/repos/logs.js';
import { toApiProxy } from '../../src/api/present.js';
import { createProxy, getProxy, setProxyStatus } from '../../src/repos/proxies.js';
import { createSession, getSession } from '../../src/repos/sessions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

/** The pool under test: up to 3 requests through one proxy at once, paced only by what it learns. */
const BASE_ENV = {
  PROXY_COOLDOWN_MS: '600',
  PROXY_MAX_CONSECUTIVE_FAILURES: '3',
  PROXY_LEASE_MS: '7000',
  CHECK_TIMEOUT_MS: '1000',
  PROXY_MAX_IN_FLIGHT: '3',
  PROXY_MIN_INTERVAL_MS: '0',
};
const config = loadConfig(BASE_ENV);

let db: TestDatabase;
let pool: ProxyPool;
let batchId: string;
let previousSink: LogSink;

async function addProxies(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const row = await createProxy(db.sql, { url: `http://user${i}:pool-pass-${i}@127.0.0.1:${20000 + i}` });
    ids.push(row.id);
  }
  return ids;
}

/** Another pool over the same database, with some settings changed (as another worker process would be). */
function poolWith(env: Record<string, string>): ProxyPool {
  return createProxyPool({ sql: db.sql, config: loadConfig({ ...BASE_ENV, ...env }) });
}

async function leaseOk(holder: string, leaseMs?: number, from: ProxyPool = pool): Promise<Lease> {
  const result = await from.lease(holder, { leaseMs });
  if (!result.ok) throw new Error(`expected a lease, got ${result.reason}`);
  return result.lease;
}

async function logsOf(eventType: string) {
  return (await listLogs(db.sql, batchId, { eventType, limit: 1000 })).items;
}

function expectNear(actual: Date | null | undefined, expectedMs: number, toleranceMs = 400): void {
  expect(actual).toBeInstanceOf(Date);
  expect(Math.abs(actual!.getTime() - expectedMs)).toBeLessThan(toleranceMs);
}

/** A slot on the (one) proxy, waiting for its rest to end or its schedule to come within reach. */
async function leaseWhenFree(holder: string): Promise<Lease> {
  const result = await pool.acquire(holder, { timeoutMs: 15_000, pollMs: 20 });
  if (!result.ok) throw new Error(`expected a slot, got ${result.reason}`);
  return result.lease;
}

async function succeed(proxyId: string): Promise<void> {
  const l = await leaseWhenFree('ok');
  expect(l.proxyId).toBe(proxyId);
  await pool.release(l, { kind: 'success' });
}

async function waitOutRest(proxyId: string): Promise<void> {
  const until = (await getProxy(db.sql, proxyId)).rate_limited_until;
  if (until) await sleep(Math.max(0, until.getTime() - Date.now()) + 20);
}

/**
 * Sends through one proxy about 20 ms apart, the last three in flight together when the first of them is
 * answered 429 and the other two after it (while the proxy rests).
 */
async function runIntoFirst429(): Promise<{ id: string; learned: number | null; sendTimes: number[] }> {
  const [id] = await addProxies(1);
  const sendTimes: number[] = [];
  // enough sends for a rate to be measured (the pacing measures nothing from the first few)
  for (let i = 0; i < 10; i++) {
    const l = await leaseOk(`run-${i}`);
    sendTimes.push(l.sendAt.getTime());
    await pool.release(l, { kind: 'success' });
    await sleep(20);
  }
  expect((await getProxy(db.sql, id!)).learned_rate_per_s).toBeNull();
  const inFlight: Lease[] = [];
  for (let i = 0; i < 3; i++) {
    const l = await leaseOk(`burst-${i}`);
    sendTimes.push(l.sendAt.getTime());
    inFlight.push(l);
    await sleep(20);
  }
  await pool.release(inFlight[0]!, { kind: 'rate_limited', retryAfterMs: 300 }, { batchId });
  const learned = (await getProxy(db.sql, id!)).learned_rate_per_s;
  for (const l of inFlight.slice(1)) await pool.release(l, { kind: 'rate_limited', retryAfterMs: 300 }, { batchId });
  return { id: id!, learned, sendTimes };
}

beforeAll(async () => {
  previousSink = setLogSink(() => {});
  db = await createTestDatabase();
  pool = createProxyPool({ sql: db.sql, config });
});

afterAll(async () => {
  await db?.drop();
  setLogSink(previousSink);
});

beforeEach(async () => {
  await db.sql`truncate proxies, sessions, batch_logs, batch_profiles, batches cascade`;
  const [batch] = await db.sql<{ id: string }[]>`insert into batches (name, status) values ('pool test', 'paused') returning id`;
  batchId = batch!.id;
});

describe('proxy pool', () => {
  it('never has more than PROXY_MAX_IN_FLIGHT requests through one proxy (200 concurrent requests over 10 proxies)', async () => {
    const proxyIds = await addProxies(10);
    const capacity = 10 * config.PROXY_MAX_IN_FLIGHT;
    const current = new Map<string, number>();
    const violations: string[] = [];
    let mostOnOneProxy = 0;
    let acquired = 0;
    // the first `capacity` requests hold their slots until all of them have one: the pool is then full,
    // which it can only be with every proxy carrying PROXY_MAX_IN_FLIGHT requests at once
    let openGate: () => void = () => {};
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    let statsWhenFull: PoolStats | null = null;

    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const holder = `worker-${i}`;
        const result = await pool.acquire(holder, { timeoutMs: 60_000, pollMs: 10 });
        if (!result.ok) throw new Error(`worker ${i} got no slot: ${result.reason}`);
        const { proxyId } = result.lease;
        const n = (current.get(proxyId) ?? 0) + 1;
        current.set(proxyId, n);
        if (n > config.PROXY_MAX_IN_FLIGHT) violations.push(`${proxyId} carried ${n} requests at once`);
        mostOnOneProxy = Math.max(mostOnOneProxy, n);
        const order = ++acquired;
        if (order === capacity) {
          statsWhenFull = await pool.stats();
          openGate();
        }
        if (order <= capacity) await gate;
        else await sleep(1 + Math.random() * 10);
        current.set(proxyId, current.get(proxyId)! - 1);
        const released = await pool.release(result.lease, { kind: 'success' });
        expect(released.released).toBe(true);
      }),
    );

    expect(violations).toEqual([]);
    // requests do overlap on one proxy: it is a rate, not a lock
    expect(mostOnOneProxy).toBe(config.PROXY_MAX_IN_FLIGHT);
    expect(statsWhenFull).toMatchObject({ total: 10, usable: 10, available: 0, leased: 10 });
    const rows = await Promise.all(proxyIds.map((id) => getProxy(db.sql, id)));
    expect(rows.reduce((sum, r) => sum + r.success_count, 0)).toBe(200);
    // the emptiest, least recently used proxy wins: every proxy carried a share
    for (const r of rows) expect(r.success_count).toBeGreaterThan(0);
    for (const r of rows) expect(r.in_flight).toBe(0);
    const stats = await pool.stats();
    expect(stats).toMatchObject({ total: 10, usable: 10, available: 10, leased: 0, coolingDown: 0, disabled: 0 });
  });

  it('spreads requests over the emptiest proxies, and counts a proxy as leased while one request is in flight', async () => {
    const [p1, p2] = await addProxies(2);
    const a = await leaseOk('a');
    const b = await leaseOk('b');
    expect(new Set([a.proxyId, b.proxyId])).toEqual(new Set([p1, p2]));
    const c = await leaseOk('c');
    expect((await getProxy(db.sql, c.proxyId)).in_flight).toBe(2);
    expect(toApiProxy(await getProxy(db.sql, c.proxyId)).status).toBe('active');
    expect(await pool.stats()).toMatchObject({ total: 2, usable: 2, available: 2, leased: 2 });

    for (const l of [a, b, c]) expect((await pool.release(l, { kind: 'success' })).released).toBe(true);
    // released once: a second release of the same slot changes nothing
    expect((await pool.release(a, { kind: 'proxy_failure', message: 'late' })).released).toBe(false);
    expect((await getProxy(db.sql, a.proxyId)).consecutive_failures).toBe(0);
    expect(await pool.stats()).toMatchObject({ available: 2, leased: 0 });
  });

  it('among equally empty proxies takes the least recently used, never-used ones first', async () => {
    await addProxies(3);
    const first = [await leaseOk('a'), await leaseOk('b'), await leaseOk('c')];
    expect(new Set(first.map((l) => l.proxyId)).size).toBe(3);
    // release in another order than leased: recency is when a proxy was last handed out
    for (const l of [first[2]!, first[0]!, first[1]!]) await pool.release(l, { kind: 'success' });

    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      const l = await leaseOk(`next-${i}`);
      order.push(l.proxyId);
      await pool.release(l, { kind: 'success' });
    }
    expect(order).toEqual([first[0]!.proxyId, first[1]!.proxyId, first[2]!.proxyId, first[0]!.proxyId]);

    const added = await createProxy(db.sql, { url: 'http://127.0.0.1:29999' });
    const l = await leaseOk('fresh');
    expect(l.proxyId).toBe(added.id);
    expect(l.proxyUsername).toBeNull();
    expect(l.proxyPassword).toBeNull();
  });

  it('returns credentials in the lease for the request, and the url without them', async () => {
    await addProxies(1);
    const l = await leaseOk('creds');
    expect(l).toMatchObject({ proxyUrl: 'http://127.0.0.1:20000', proxyUsername: 'user0', proxyPassword: 'pool-pass-0' });
    expect(l.expiresAt.getTime()).toBeGreaterThan(Date.now() + 4000);
  });

  it('honours Retry-After: the proxy rests, a PROXY_COOLDOWN log is written, then it is active again', async () => {
    const [id] = await addProxies(1);
    const l = await leaseOk('rl');
    const before = Date.now();
    await pool.release(l, { kind: 'rate_limited', retryAfterMs: 1500 }, { batchId });

    const denied = await pool.lease('other');
    expect(denied).toMatchObject({ ok: false, reason: 'all_cooling_down' });
    expectNear(denied.ok ? null : denied.retryAt, before + 1500);
    expect(toApiProxy(await getProxy(db.sql, id!)).status).toBe('cooling_down');

    const [log] = await logsOf('PROXY_COOLDOWN');
    expect(log).toMatchObject({ level: 'WARNING', batch_id: batchId, proxy_id: id, details: { retry_after_ms: 1500 } });
    const until = new Date((log!.details as { until: string }).until);
    expectNear(until, before + 1500);

    await sleep(Math.max(0, until.getTime() - Date.now()) + 20);
    const again = await leaseOk('after-rest');
    expect(again.proxyId).toBe(id);
    const row = await getProxy(db.sql, id!);
    expect(row.status).toBe('active');
    expect(toApiProxy(row).status).toBe('active');
  });

  it('rests for PROXY_COOLDOWN_MS without Retry-After, and acquire() waits for it instead of spinning', async () => {
    await addProxies(1);
    const before = Date.now();
    await pool.release(await leaseOk('rl'), { kind: 'rate_limited' }, { batchId });
    const denied = await pool.lease('other');
    expectNear(denied.ok ? null : denied.retryAt, before + config.PROXY_COOLDOWN_MS);

    const started = Date.now();
    const got = await pool.acquire('patient', { timeoutMs: 5000 });
    expect(got.ok).toBe(true);
    expect(Date.now() - before).toBeGreaterThanOrEqual(config.PROXY_COOLDOWN_MS - 50);
    expect(Date.now() - started).toBeLessThan(3000);
    const [log] = await logsOf('PROXY_COOLDOWN');
    expect(log?.details).toMatchObject({ retry_after_ms: config.PROXY_COOLDOWN_MS, from_retry_after: false });
  });

  it('disables a proxy after PROXY_MAX_CONSECUTIVE_FAILURES consecutive failures, with a PROXY_DISABLED log', async () => {
    const [id] = await addProxies(1);
    const fail = async () =>
      pool.release(await leaseOk('f'), { kind: 'proxy_failure', message: 'connect ECONNREFUSED' }, { batchId });

    await fail();
    await fail();
    await pool.release(await leaseOk('s'), { kind: 'success' }, { batchId }); // a success breaks the streak
    expect((await getProxy(db.sql, id!)).consecutive_failures).toBe(0);
    expect((await fail()).disabled).toBe(false);
    expect((await fail()).disabled).toBe(false);
    expect((await fail()).disabled).toBe(true);

    const row = await getProxy(db.sql, id!);
    expect(row).toMatchObject({ status: 'disabled', consecutive_failures: 3, failure_count: 5, success_count: 1 });
    const logs = await logsOf('PROXY_DISABLED');
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ level: 'ERROR', proxy_id: id, details: { consecutive_failures: 3 } });

    expect(await pool.lease('x')).toEqual({ ok: false, retryAt: null, reason: 'none_usable' });
    expect(await pool.stats()).toMatchObject({ total: 1, disabled: 1, usable: 0, nextFreeAt: null });

    await setProxyStatus(db.sql, id!, 'active');
    expect((await getProxy(db.sql, id!)).consecutive_failures).toBe(0);
    expect((await leaseOk('back')).proxyId).toBe(id);
  });

  it('counts nothing for a neutral outcome', async () => {
    const [id] = await addProxies(1);
    await pool.release(await leaseOk('f'), { kind: 'proxy_failure', message: 'tunnel failed' });
    await pool.release(await leaseOk('n'), { kind: 'neutral' });
    expect(await getProxy(db.sql, id!)).toMatchObject({ consecutive_failures: 1, failure_count: 1, success_count: 0 });
    expect((await getProxy(db.sql, id!)).in_flight).toBe(0);
    expect(await pool.stats()).toMatchObject({ available: 1, leased: 0 });
  });

  it('acquire() on a full pool waits for a release instead of asking again and again', async () => {
    let statements = 0;
    const counted = postgres(db.url, { max: 2, onnotice: () => {}, debug: () => void statements++ }) as unknown as Sql;
    try {
      const single = createProxyPool({ sql: counted, config: loadConfig({ ...BASE_ENV, PROXY_MAX_IN_FLIGHT: '1' }) });
      await addProxies(1);
      const held = await leaseOk('held', undefined, single);

      const before = statements;
      const timedOut = await single.acquire('waiter', { timeoutMs: 1000, pollMs: 250 });
      expect(timedOut).toMatchObject({ ok: false, reason: 'all_busy' });
      // one attempt per pollMs (each a few statements), not one attempt after another
      expect(statements - before).toBeLessThan(100);

      // a release in this process wakes the waiter long before its next poll
      const waiting = single.acquire('waiter', { timeoutMs: 20_000, pollMs: 10_000 });
      await sleep(100);
      await single.release(held, { kind: 'success' });
      const started = Date.now();
      const got = await waiting;
      expect(got.ok).toBe(true);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await (counted as unknown as { end(): Promise<void> }).end();
    }
  });

  it('reclaims the slot of a holder that never released it, and ignores that holder when it comes back', async () => {
    const single = poolWith({ PROXY_MAX_IN_FLIGHT: '1' });
    const [id] = await addProxies(1);
    const stale = await leaseOk('crashed', 300, single);

    const busy = await single.lease('b');
    expect(busy).toMatchObject({ ok: false, reason: 'all_busy' });
    // the slot ends at the latest when it expires
    expect(busy.ok ? null : busy.retryAt).toBeInstanceOf(Date);
    expect(busy.ok ? 0 : busy.retryAt!.getTime()).toBeLessThanOrEqual(stale.expiresAt.getTime());

    await sleep(Math.max(0, stale.expiresAt.getTime() - Date.now()) + 30);
    const got = await single.acquire('b', { timeoutMs: 5000, pollMs: 50 });
    if (!got.ok) throw new Error(`expected the expired slot to be reclaimed, got ${got.reason}`);
    const fresh = got.lease;
    expect(fresh.proxyId).toBe(id);
    expect((await getProxy(db.sql, id!)).in_flight).toBe(1);

    // the crashed holder comes back and reports a rate limit: its slot is gone, so it changes nothing
    const late = await single.release(stale, { kind: 'rate_limited', retryAfterMs: 60_000 }, { batchId });
    expect(late).toEqual({ released: false, disabled: false, sessionInvalidated: false });
    const row = await getProxy(db.sql, id!);
    expect(row).toMatchObject({ in_flight: 1, rate_limited_until: null, learned_rate_per_s: null });
    expect(toApiProxy(row).status).toBe('active');
    expect(await logsOf('PROXY_COOLDOWN')).toHaveLength(0);
    expect(await single.lease('c')).toMatchObject({ ok: false, reason: 'all_busy' });

    expect((await single.release(fresh, { kind: 'success' })).released).toBe(true);
    expect((await getProxy(db.sql, id!)).in_flight).toBe(0);
    expect((await leaseOk('c', undefined, single)).proxyId).toBe(id);
  });

  it('when every proxy rests, retryAt is the end of the earliest rest', async () => {
    await addProxies(3);
    const now = Date.now();
    const [a, b, c] = [await leaseOk('a'), await leaseOk('b'), await leaseOk('c')];
    await pool.release(a, { kind: 'rate_limited', retryAfterMs: 5000 });
    await pool.release(b, { kind: 'rate_limited', retryAfterMs: 2000 });
    await pool.release(c, { kind: 'rate_limited', retryAfterMs: 4000 });

    const resting = await pool.lease('d');
    expect(resting).toMatchObject({ ok: false, reason: 'all_cooling_down', restReason: 'rate_limited' });
    expectNear(resting.ok ? null : resting.retryAt, now + 2000);
    const stats = await pool.stats();
    expect(stats).toMatchObject({ total: 3, usable: 0, available: 0, leased: 0, coolingDown: 3, disabled: 0 });
    expectNear(stats.nextFreeAt, now + 2000);
  });

  it('when the proxies that do not rest are full, the pool is busy: retryAt comes no later than a slot ends', async () => {
    const single = poolWith({ PROXY_MAX_IN_FLIGHT: '1' });
    await addProxies(2);
    const a = await leaseOk('a', undefined, single);
    const b = await leaseOk('b', 3000, single);
    await single.release(a, { kind: 'rate_limited', retryAfterMs: 2000 });

    const denied = await single.lease('d');
    expect(denied).toMatchObject({ ok: false, reason: 'all_busy' });
    expect(denied.ok ? null : denied.retryAt).toBeInstanceOf(Date);
    expect(denied.ok ? 0 : denied.retryAt!.getTime()).toBeLessThanOrEqual(b.expiresAt.getTime());
    expect(await single.stats()).toMatchObject({ total: 2, usable: 1, available: 0, leased: 1, coolingDown: 1, disabled: 0 });

    // a release frees the slot at once, without waiting for the expiry
    await single.release(b, { kind: 'success' });
    expect((await leaseOk('d', undefined, single)).proxyId).toBe(b.proxyId);
  });

  it('does not offer a proxy whose schedule is more than 5 s ahead: retryAt is when it comes within reach', async () => {
    const slow = poolWith({ PROXY_MIN_INTERVAL_MS: '2000', PROXY_MAX_IN_FLIGHT: '10' });
    const [id] = await addProxies(1);
    // send times now, +2 s, +4 s: the next one (+6 s) is beyond the 5 s a request waits at most
    const slots = [await leaseOk('a', undefined, slow), await leaseOk('b', undefined, slow), await leaseOk('c', undefined, slow)];
    expect(slots.map((l) => l.sendAt.getTime() - slots[0]!.sendAt.getTime())).toEqual([0, 2000, 4000]);

    const denied = await slow.lease('d');
    expect(denied).toMatchObject({ ok: false, reason: 'all_busy' });
    expectNear(denied.ok ? null : denied.retryAt, slots[0]!.sendAt.getTime() + 6000 - 5000, 50);
    expect(await slow.stats()).toMatchObject({ total: 1, usable: 1, available: 0, leased: 1, coolingDown: 0 });
    expect((await getProxy(db.sql, id!)).in_flight).toBe(3);
    for (const l of slots) await slow.release(l, { kind: 'neutral' });
  });

  it('paces a proxy by PROXY_MIN_INTERVAL_MS: send times are spaced by it, and awaitSendTime waits for them', async () => {
    const paced = poolWith({ PROXY_MIN_INTERVAL_MS: '300' });
    const [p1, p2] = await addProxies(2);
    // the proxy whose next send time comes first wins: both are offered for now before either is used again
    const first = [await leaseOk('a', undefined, paced), await leaseOk('b', undefined, paced)];
    expect(new Set(first.map((l) => l.proxyId))).toEqual(new Set([p1, p2]));
    for (const l of first) expect(l.sendAt.getTime()).toBeLessThanOrEqual(Date.now());

    const third = await leaseOk('c', undefined, paced);
    const earlier = first.find((l) => l.proxyId === third.proxyId)!;
    expect(third.sendAt.getTime() - earlier.sendAt.getTime()).toBeGreaterThanOrEqual(300 - 5);
    const fourth = await leaseOk('d', undefined, paced);
    expect(fourth.proxyId).not.toBe(third.proxyId);

    // the slots are held while waiting: the schedule, not a lock, keeps the sends apart
    const fifth = await leaseOk('e', undefined, paced);
    const before = first.find((l) => l.proxyId === fifth.proxyId)!;
    const middle = [third, fourth].find((l) => l.proxyId === fifth.proxyId)!;
    expect(fifth.sendAt.getTime() - middle.sendAt.getTime()).toBeGreaterThanOrEqual(300 - 5);
    expect(fifth.sendAt.getTime() - before.sendAt.getTime()).toBeGreaterThanOrEqual(600 - 5);
    expect(fifth.expiresAt.getTime() - fifth.sendAt.getTime()).toBe(config.PROXY_LEASE_MS);

    // an aborted wait returns at once
    const far = await leaseOk('f', undefined, paced);
    const abort = new AbortController();
    abort.abort();
    await paced.awaitSendTime(far, abort.signal);
    expect(Date.now()).toBeLessThan(far.sendAt.getTime());

    await paced.awaitSendTime(fifth);
    expect(Date.now()).toBeGreaterThanOrEqual(fifth.sendAt.getTime() - 5);
    for (const l of [...first, third, fourth, fifth, far]) expect((await paced.release(l, { kind: 'success' })).released).toBe(true);
  });

  it('learns nothing before the first 429: the proxy sends as fast as its slots allow', async () => {
    const [id] = await addProxies(1);
    const slots = [await leaseOk('a'), await leaseOk('b'), await leaseOk('c')];
    // nothing learned, no PROXY_MIN_INTERVAL_MS: every slot may send now (on the pool's clock)
    const now = (await pool.now()).getTime();
    for (const l of slots) expect(l.sendAt.getTime()).toBeLessThanOrEqual(now);
    for (const l of slots) await pool.release(l, { kind: 'success' });
    const row = await getProxy(db.sql, id!);
    expect(row).toMatchObject({ success_count: 3, learned_rate_per_s: null });
    expect(toApiProxy(row).learned_rate_per_s).toBeNull();
  });

  it('keeps a proxy\'s pacing in Postgres: a 429 rests it once (those in flight add nothing), and what it learned spaces every worker\'s sends', async () => {
    const { id } = await runIntoFirst429();
    const resting = await getProxy(db.sql, id);
    expect(toApiProxy(resting).status).toBe('cooling_down');
    // one rest: the two 429s of requests already in flight when it began neither extend it nor teach more
    const logs = await logsOf('PROXY_COOLDOWN');
    expect(logs).toHaveLength(1);
    expect(logs[0]!.details).toMatchObject({ reason: 'rate_limited', retry_after_ms: expect.any(Number), from_retry_after: true });

    await waitOutRest(id);
    for (let i = 0; i < 3; i++) await succeed(id);
    const [row] = await db.sql<{ learned_rate_per_s: number | null; pace_interval_ms: number; pacing: unknown }[]>`
      select learned_rate_per_s, pace_interval_ms, pacing from proxies where id = ${id}`;
    expect(row!.pacing).not.toBeNull();
    expect(row!.learned_rate_per_s).not.toBeNull();
    const learned = row!.learned_rate_per_s!;
    expect(row!.pace_interval_ms).toBeCloseTo(1000 / learned, 6);
    expect(toApiProxy(await getProxy(db.sql, id)).learned_rate_per_s).toBe(Math.round(learned * 100) / 100);

    // another worker's pool sends by the same learned interval: the state is the row's, not a process's
    const other = poolWith({});
    const slots = [await leaseOk('w2-1', undefined, other), await leaseOk('w2-2', undefined, other)];
    expect(slots[1]!.sendAt.getTime() - slots[0]!.sendAt.getTime()).toBeGreaterThanOrEqual(1000 / learned - 2);
    for (const l of slots) await other.release(l, { kind: 'neutral' });
  });

  it('rests a proxy whose address the source refuses (403), then disables it when refused again; any other answer clears the strike', async () => {
    const [id] = await addProxies(1);
    await pool.release(await leaseOk('b1'), { kind: 'address_blocked', message: 'address refused: 403' }, { batchId });
    let row = await getProxy(db.sql, id!);
    expect([row.status, row.rest_reason]).toEqual(['cooling_down', 'blocked']);
    expect(row.consecutive_failures).toBe(0);
    await waitOutRest(id!);
    // an answer of another kind in between: the address is not refused any more
    await pool.release(await leaseWhenFree('b2'), { kind: 'rate_limited', retryAfterMs: 50 }, { batchId });
    await waitOutRest(id!);
    await pool.release(await leaseWhenFree('b3'), { kind: 'address_blocked', message: 'address refused: 403' }, { batchId });
    expect((await getProxy(db.sql, id!)).status).toBe('cooling_down');
    await waitOutRest(id!);
    const result = await pool.release(await leaseWhenFree('b4'), { kind: 'address_blocked', message: 'address refused: 403' }, { batchId });
    expect(result).toMatchObject({ released: true, disabled: true });
    row = await getProxy(db.sql, id!);
    expect([row.status, row.disabled_reason]).toEqual(['disabled', 'blocked']);
    const [disabled] = await logsOf('PROXY_DISABLED');
    expect(disabled).toMatchObject({ level: 'ERROR', proxy_id: id, details: { reason: 'blocked' } });
  });

  it('pairs a session: its own proxy first, then an unpaired one; invalidated on evidence only, and logged', async () => {
    const [p1, p2] = await addProxies(2);
    await setProxyStatus(db.sql, p2!, 'disabled');
    const other = await createSession(db.sql, { token: 'token-of-other-proxy', proxyId: p2 });
    const mine = await createSession(db.sql, { token: 'token-paired-with-p1', proxyId: p1 });
    const free = await createSession(db.sql, { token: 'token-unpaired-free' });

    // a login refused for one request may be that request's oddity: the session stays valid
    const first = await leaseOk('s1');
    expect(first).toMatchObject({ proxyId: p1, sessionId: mine.id, sessionToken: 'token-paired-with-p1' });
    expect(await pool.release(first, { kind: 'session_invalid', message: 'login_required', refusal: 'login' }, { batchId, subject: 'alice' })).toMatchObject({
      released: true,
      sessionInvalidated: false,
    });
    expect((await getSession(db.sql, mine.id)).status).toBe('valid');
    // refused again for the same request: still no evidence against the session
    await pool.release(await leaseOk('s1b'), { kind: 'session_invalid', refusal: 'login' }, { batchId, subject: 'alice' });
    expect((await getSession(db.sql, mine.id)).status).toBe('valid');
    // refused for another one: it is the session
    const result = await pool.release(await leaseOk('s1c'), { kind: 'session_invalid', message: 'login_required', refusal: 'login' }, { batchId, subject: 'bob' });
    expect(result).toMatchObject({ released: true, sessionInvalidated: true });
    expect((await getSession(db.sql, mine.id)).status).toBe('invalid');
    // the proxy is not blamed for the session
    expect((await getProxy(db.sql, p1!)).consecutive_failures).toBe(0);

    const [log] = await logsOf('SESSION_INVALIDATED');
    expect(log).toMatchObject({ level: 'WARNING', proxy_id: p1, batch_id: batchId, details: { session_id: mine.id, refusal: 'login' } });
    expect(JSON.stringify(log)).not.toContain('token-paired-with-p1');

    // a checkpoint is evidence enough at once
    const second = await leaseOk('s2');
    expect(second).toMatchObject({ sessionId: free.id, sessionToken: 'token-unpaired-free' });
    await pool.release(second, { kind: 'session_invalid', refusal: 'checkpoint' }, { batchId, subject: 'carol' });
    expect((await getSession(db.sql, free.id)).status).toBe('invalid');

    // the only valid session left belongs to another proxy: none is paired
    const third = await leaseOk('s3');
    expect(third).toMatchObject({ proxyId: p1, sessionId: null, sessionToken: null });
    expect((await getSession(db.sql, other.id)).status).toBe('valid');
    expect(await logsOf('SESSION_INVALIDATED')).toHaveLength(2);
  });

  it('never sends without a session while a valid one exists: a session carries SESSION_MAX_IN_FLIGHT requests, and a success forgets a refusal', async () => {
    const shared = poolWith({ SESSION_MAX_IN_FLIGHT: '2' });
    await addProxies(3);
    const session = await createSession(db.sql, { token: 'the-only-session' });
    // 9 slots of proxy room, 2 of session room, taken all at once
    const results = await Promise.all(Array.from({ length: 9 }, (_, i) => shared.lease(`c${i}`)));
    const leased = results.flatMap((r) => (r.ok ? [r.lease] : []));
    expect(leased).toHaveLength(2);
    for (const l of leased) expect(l.sessionId).toBe(session.id);
    for (const r of results) if (!r.ok) expect(r.reason).toBe('all_busy');
    const [counted] = await db.sql<{ in_flight: number }[]>`select in_flight from sessions where id = ${session.id}`;
    expect(counted!.in_flight).toBe(2);

    // one refusal, then a success with it: the refusal is forgotten, so a refusal for another request later is a first one again
    await shared.release(leased[0]!, { kind: 'session_invalid', refusal: 'login' }, { batchId, subject: 'alice' });
    await shared.release(leased[1]!, { kind: 'success' }, { batchId, subject: 'bob' });
    const next = await leaseOk('d1', undefined, shared);
    await shared.release(next, { kind: 'session_invalid', refusal: 'login' }, { batchId, subject: 'carol' });
    expect((await getSession(db.sql, session.id)).status).toBe('valid');
    const [after] = await db.sql<{ in_flight: number }[]>`select in_flight from sessions where id = ${session.id}`;
    expect(after!.in_flight).toBe(0);
  });

  it('takes its times from the database\'s clock, so a worker whose clock is an hour behind neither sends early nor has its slots reclaimed', async () => {
    const behind = () => Date.now() - 3_600_000;
    const clock = createDatabaseClock(db.sql, { localNow: behind });
    expect(Math.abs((await clock()).getTime() - Date.now())).toBeLessThan(1_000);
    await addProxies(1);
    const skewed = createProxyPool({ sql: db.sql, config, clock });
    const l = await leaseOk('skewed', undefined, skewed);
    // its slot expires PROXY_LEASE_MS after now, as every other worker reads now: not an hour ago
    expect(Math.abs(l.expiresAt.getTime() - (Date.now() + config.PROXY_LEASE_MS))).toBeLessThan(1_000);
    await sleep(1_100);
    await leaseOk('a-punctual-worker-reclaims-nothing');
    expect((await skewed.release(l, { kind: 'success' })).released).toBe(true);
  });

  it('leases a slot without a session for a probe that brings its own, even while every session is full', async () => {
    const shared = poolWith({ SESSION_MAX_IN_FLIGHT: '1' });
    await addProxies(1);
    const session = await createSession(db.sql, { token: 'the-busy-session' });
    const busy = await leaseOk('carrying', undefined, shared);
    expect(busy.sessionId).toBe(session.id);
    expect(await shared.lease('another')).toMatchObject({ ok: false, reason: 'all_busy' });
    const probe = await shared.lease('probe', { session: false });
    expect(probe).toMatchObject({ ok: true, lease: { sessionId: null, sessionToken: null } });
    const [row] = await db.sql<{ in_flight: number }[]>`select in_flight from sessions where id = ${session.id}`;
    expect(row!.in_flight).toBe(1);
    if (probe.ok) await shared.release(probe.lease, { kind: 'success' });
    await shared.release(busy, { kind: 'success' });
  });

  it('counts the requests it can carry at once by pace and by session: what a batch sizes its window by', async () => {
    await addProxies(2);
    expect((await pool.stats()).sendSlots).toBe(2 * Number(BASE_ENV.PROXY_MAX_IN_FLIGHT));
    // at a 20 s pace a slot is reserved at most 5 s ahead of its send time: one request per proxy at a time
    expect((await poolWith({ PROXY_MIN_INTERVAL_MS: '20000' }).stats()).sendSlots).toBe(2);
    expect((await poolWith({ PROXY_MIN_INTERVAL_MS: '2000' }).stats()).sendSlots).toBe(2 * 3);
    await createSession(db.sql, { token: 'one-session' });
    expect((await poolWith({ SESSION_MAX_IN_FLIGHT: '2' }).stats()).sendSlots).toBe(2);
  });

  it('spreads unpaired sessions least recently used first', async () => {
    await addProxies(1);
    const s1 = await createSession(db.sql, { token: 'token-lru-one' });
    const s2 = await createSession(db.sql, { token: 'token-lru-two' });
    const used: (string | null)[] = [];
    for (let i = 0; i < 4; i++) {
      const l = await leaseOk(`h${i}`);
      used.push(l.sessionId);
      await pool.release(l, { kind: 'success' });
    }
    expect(new Set(used.slice(0, 2))).toEqual(new Set([s1.id, s2.id]));
    expect(used.slice(2)).toEqual(used.slice(0, 2));
  });
});
