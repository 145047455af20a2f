/**
 * The sessions the proxy pool pairs with its slots, against real Postgres: a proxy's own session first, then
 * an unpaired one, least recently used first; never a slot without a session while one is valid (except for a
 * probe that brings its own); a session invalidated on evidence only.
 */
import { describe, expect, it } from 'vitest';
import { getProxy, setProxyStatus } from '../../src/repos/proxies.js';
import { createSession, getSession } from '../../src/repos/sessions.js';
import { addProxies, batchId, db, leaseOk, logsOf, pool, poolWith, usePoolDatabase } from '../helpers/pool.js';

usePoolDatabase();

describe('proxy pool: sessions', () => {
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
