import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { setLogSink, type LogSink } from '../../src/logger.js';
import { createProxyPool, type Lease, type ProxyPool } from '../../src/pool.js';
import { listLogs } from '../../src/repos/logs.js';
import { toApiProxy } from '../../src/api/present.js';
import { createProxy, getProxy, setProxyStatus } from '../../src/repos/proxies.js';
import { createSession, getSession } from '../../src/repos/sessions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const config = loadConfig({
  PROXY_COOLDOWN_MS: '600',
  PROXY_MAX_CONSECUTIVE_FAILURES: '3',
  PROXY_LEASE_MS: '5000',
});

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

async function leaseOk(holder: string, leaseMs?: number): Promise<Lease> {
  const result = await pool.lease(holder, { leaseMs });
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
  it('never hands one proxy to two holders at once (200 concurrent leases over 10 proxies)', async () => {
    const proxyIds = await addProxies(10);
    const holders = new Map<string, string>();
    const violations: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;

    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const holder = `worker-${i}`;
        const result = await pool.acquire(holder, { timeoutMs: 60_000, pollMs: 10 });
        if (!result.ok) throw new Error(`worker ${i} got no lease: ${result.reason}`);
        const { proxyId } = result.lease;
        const current = holders.get(proxyId);
        if (current) violations.push(`${proxyId} held by ${current} and ${holder}`);
        holders.set(proxyId, holder);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await sleep(1 + Math.random() * 10);
        holders.delete(proxyId);
        inFlight--;
        const released = await pool.release(result.lease, { kind: 'success' });
        expect(released.released).toBe(true);
      }),
    );

    expect(violations).toEqual([]);
    expect(maxInFlight).toBeLessThanOrEqual(10);
    expect(maxInFlight).toBeGreaterThan(1);
    const counts = await Promise.all(proxyIds.map(async (id) => (await getProxy(db.sql, id)).success_count));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(200);
    // least-recently-used spreads the work: every proxy carried a share
    for (const n of counts) expect(n).toBeGreaterThan(0);
    const stats = await pool.stats();
    expect(stats).toMatchObject({ total: 10, usable: 10, available: 10, leased: 0, coolingDown: 0, disabled: 0 });
  });

  it('leases the least recently used proxy, never-used ones first', async () => {
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
    expect((await pool.stats()).available).toBe(1);
  });

  it('reclaims an expired lease, and a stale holder release does not clobber the new lease', async () => {
    const [id] = await addProxies(1);
    const stale = await leaseOk('crashed', 300);

    const busy = await pool.lease('b');
    expect(busy).toMatchObject({ ok: false, reason: 'all_busy' });
    expectNear(busy.ok ? null : busy.retryAt, stale.expiresAt.getTime(), 50);

    await sleep(Math.max(0, stale.expiresAt.getTime() - Date.now()) + 30);
    const fresh = await leaseOk('b');
    expect(fresh.proxyId).toBe(id);

    // the crashed holder comes back and reports a rate limit: it no longer owns the proxy
    const late = await pool.release(stale, { kind: 'rate_limited', retryAfterMs: 60_000 }, { batchId });
    expect(late.released).toBe(false);
    const row = await getProxy(db.sql, id!);
    expect(row.lease_holder).toBe('b');
    expect(toApiProxy(row).status).toBe('active');
    expect(await logsOf('PROXY_COOLDOWN')).toHaveLength(0);
    expect(await pool.lease('c')).toMatchObject({ ok: false, reason: 'all_busy' });

    expect((await pool.release(fresh, { kind: 'success' })).released).toBe(true);
    expect((await getProxy(db.sql, id!)).lease_holder).toBeNull();
  });

  it('when nothing is leasable, retryAt is the earliest moment a proxy frees up', async () => {
    await addProxies(3);
    const now = Date.now();
    const [a, b, c] = [await leaseOk('a'), await leaseOk('b'), await leaseOk('c', 3000)];
    await pool.release(a, { kind: 'rate_limited', retryAfterMs: 5000 });
    await pool.release(b, { kind: 'rate_limited', retryAfterMs: 2000 });
    void c; // still leased, for 3 s

    const denied = await pool.lease('d');
    expect(denied).toMatchObject({ ok: false, reason: 'all_busy' });
    expectNear(denied.ok ? null : denied.retryAt, now + 2000);
    const stats = await pool.stats();
    expect(stats).toMatchObject({ total: 3, usable: 1, available: 0, leased: 1, coolingDown: 2, disabled: 0 });
    expectNear(stats.nextFreeAt, now + 2000);

    await pool.release(c, { kind: 'rate_limited', retryAfterMs: 4000 });
    const resting = await pool.lease('d');
    expect(resting).toMatchObject({ ok: false, reason: 'all_cooling_down' });
    expectNear(resting.ok ? null : resting.retryAt, now + 2000);
  });

  it('paces a proxy: next_free_at keeps it back and counts toward retryAt', async () => {
    await addProxies(1);
    const l = await leaseOk('p');
    await pool.release(l, { kind: 'success' }, { minIntervalMs: 800 });
    const denied = await pool.lease('q');
    expect(denied).toMatchObject({ ok: false, reason: 'all_cooling_down' });
    // measured from when the request started (the lease), not from the release
    const leasedAt = l.expiresAt.getTime() - config.PROXY_LEASE_MS;
    expectNear(denied.ok ? null : denied.retryAt, leasedAt + 800, 100);
    expect(await pool.stats()).toMatchObject({ usable: 1, available: 0, coolingDown: 0 });
    const got = await pool.acquire('q', { timeoutMs: 3000 });
    expect(got.ok).toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(leasedAt + 790);
  });

  it('pairs a session: its own proxy first, then an unpaired one; an invalid session is dropped and logged', async () => {
    const [p1, p2] = await addProxies(2);
    await setProxyStatus(db.sql, p2!, 'disabled');
    const other = await createSession(db.sql, { token: 'token-of-other-proxy', proxyId: p2 });
    const mine = await createSession(db.sql, { token: 'token-paired-with-p1', proxyId: p1 });
    const free = await createSession(db.sql, { token: 'token-unpaired-free' });

    const first = await leaseOk('s1');
    expect(first).toMatchObject({ proxyId: p1, sessionId: mine.id, sessionToken: 'token-paired-with-p1' });
    const result = await pool.release(first, { kind: 'session_invalid', message: 'login_required' }, { batchId });
    expect(result).toMatchObject({ released: true, sessionInvalidated: true });
    expect((await getSession(db.sql, mine.id)).status).toBe('invalid');
    // the proxy is not blamed for the session
    expect((await getProxy(db.sql, p1!)).consecutive_failures).toBe(0);

    const [log] = await logsOf('SESSION_INVALIDATED');
    expect(log).toMatchObject({ level: 'WARNING', proxy_id: p1, batch_id: batchId, details: { session_id: mine.id } });
    expect(JSON.stringify(log)).not.toContain('token-paired-with-p1');

    const second = await leaseOk('s2');
    expect(second).toMatchObject({ sessionId: free.id, sessionToken: 'token-unpaired-free' });
    await pool.release(second, { kind: 'session_invalid' }, { batchId });

    // the only valid session left belongs to another proxy: none is paired
    const third = await leaseOk('s3');
    expect(third).toMatchObject({ proxyId: p1, sessionId: null, sessionToken: null });
    expect((await getSession(db.sql, other.id)).status).toBe('valid');
    expect(await logsOf('SESSION_INVALIDATED')).toHaveLength(2);
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
