/**
 * What the outcome a slot is released with does to its proxy, against real Postgres: a 429 rests it (for
 * Retry-After or PROXY_COOLDOWN_MS), failures in a row disable it, a refused address rests it then disables
 * it, a neutral outcome counts nothing; and when every proxy rests, when the pool may be asked again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { toApiProxy } from '../../src/api/present.js';
import { getProxy, setProxyStatus } from '../../src/repos/proxies.js';
import { addProxies, batchId, config, db, expectNear, leaseOk, leaseWhenFree, logsOf, pool, waitOutRest, usePoolDatabase } from '../helpers/pool.js';

usePoolDatabase();

describe('proxy pool: release outcomes', () => {
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
});
