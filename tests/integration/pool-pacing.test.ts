/**
 * When the requests through one proxy may leave, against real Postgres: send times spaced by
 * PROXY_MIN_INTERVAL_MS or by the rate a 429 taught (kept in the proxy's row, so every worker shares it), no
 * slot reserved more than 5 s ahead of its send time, and the requests the pool can carry at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Lease } from '../../src/pool/pool.js';
import { toApiProxy } from '../../src/api/present.js';
import { getProxy, type ProxyRow } from '../../src/repos/proxies.js';
import { createSession } from '../../src/repos/sessions.js';
import { addProxies, BASE_ENV, batchId, config, db, expectNear, leaseOk, leaseWhenFree, logsOf, pool, poolWith, waitOutRest, usePoolDatabase } from '../helpers/pool.js';

usePoolDatabase();

async function succeed(proxyId: string): Promise<void> {
  const l = await leaseWhenFree('ok');
  expect(l.proxyId).toBe(proxyId);
  await pool.release(l, { kind: 'success' });
}

/**
 * Sends through one proxy about 20 ms apart, the last three in flight together when the first of them is
 * answered 429 and the other two after it (while the proxy rests). Gives the proxy's row as the first 429 left it.
 */
async function runIntoFirst429(): Promise<{ id: string; afterFirst: ProxyRow }> {
  const [id] = await addProxies(1);
  // enough sends for a rate to be measured (the pacing measures nothing from the first few)
  for (let i = 0; i < 10; i++) {
    await pool.release(await leaseOk(`run-${i}`), { kind: 'success' });
    await sleep(20);
  }
  expect((await getProxy(db.sql, id!)).learned_rate_per_s).toBeNull();
  const inFlight: Lease[] = [];
  for (let i = 0; i < 3; i++) {
    inFlight.push(await leaseOk(`burst-${i}`));
    await sleep(20);
  }
  await pool.release(inFlight[0]!, { kind: 'rate_limited', retryAfterMs: 300 }, { batchId });
  const afterFirst = await getProxy(db.sql, id!);
  for (const l of inFlight.slice(1)) await pool.release(l, { kind: 'rate_limited', retryAfterMs: 300 }, { batchId });
  return { id: id!, afterFirst };
}

describe('proxy pool: pacing', () => {
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
    const { id, afterFirst } = await runIntoFirst429();
    const resting = await getProxy(db.sql, id);
    expect(toApiProxy(resting).status).toBe('cooling_down');
    // one rest: the two 429s of requests already in flight when it began neither extend it nor teach more
    expect(resting.rate_limited_until).toEqual(afterFirst.rate_limited_until);
    expect(resting.learned_rate_per_s).toBe(afterFirst.learned_rate_per_s);
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

  it('counts the requests it can carry at once by pace and by session: what a batch sizes its window by', async () => {
    await addProxies(2);
    expect((await pool.stats()).sendSlots).toBe(2 * Number(BASE_ENV.PROXY_MAX_IN_FLIGHT));
    // at a 20 s pace a slot is reserved at most 5 s ahead of its send time: one request per proxy at a time
    expect((await poolWith({ PROXY_MIN_INTERVAL_MS: '20000' }).stats()).sendSlots).toBe(2);
    expect((await poolWith({ PROXY_MIN_INTERVAL_MS: '2000' }).stats()).sendSlots).toBe(2 * 3);
    await createSession(db.sql, { token: 'one-session' });
    expect((await poolWith({ SESSION_MAX_IN_FLIGHT: '2' }).stats()).sendSlots).toBe(2);
  });
});
