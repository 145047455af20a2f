/**
 * Which slot the proxy pool hands a request, against real Postgres: never more than PROXY_MAX_IN_FLIGHT
 * requests through one proxy, the emptiest and least recently used proxy first, credentials in the lease;
 * a full pool makes acquire() wait for a release, a crashed holder's slot is reclaimed when it expires,
 * and every time is read from the database's clock.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { Sql } from '../../src/db/sql.js';
import { createDatabaseClock } from '../../src/pool/database-clock.js';
import { createProxyPool, type PoolStats } from '../../src/pool/pool.js';
import { toApiProxy } from '../../src/api/present.js';
import { createProxy, getProxy } from '../../src/repos/proxies.js';
import { addProxies, BASE_ENV, batchId, config, db, leaseOk, logsOf, pool, poolWith, usePoolDatabase } from '../helpers/pool.js';

usePoolDatabase();

describe('proxy pool: leasing', () => {
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
});
