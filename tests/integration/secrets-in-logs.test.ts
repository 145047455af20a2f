// No password or session token ever reaches a log line, a batch log or an API shape: the pool, proxy and
// session paths that log, run against a real (throw-away) Postgres database, with every log line captured.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger, setLogLevel, setLogSink, type LogSink } from '../../src/logging/logger.js';
import { createProxyPool, type ProxyPool } from '../../src/pool/pool.js';
import { redact } from '../../src/logging/redact.js';
import { insertLog, listLogs } from '../../src/repos/logs.js';
import { toApiProxy } from '../../src/api/present.js';
import { createProxy, getProxy, listProxies, loadSecrets } from '../../src/repos/proxies.js';
import { createSession, listSessions } from '../../src/repos/sessions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

describe('secrets never reach logs', () => {
  const PASSWORD = 'Pw-Unit-Secret-9917';
  const TOKEN = 'Tok-Unit-Secret-4432';
  const lines: string[] = [];
  let db: TestDatabase;
  let pool: ProxyPool;
  let previousSink: LogSink;
  let batchId: string;

  beforeAll(async () => {
    previousSink = setLogSink((line) => lines.push(line));
    setLogLevel('debug');
    db = await createTestDatabase();
    pool = createProxyPool({
      sql: db.sql,
      config: loadConfig({ PROXY_MAX_CONSECUTIVE_FAILURES: '2', PROXY_COOLDOWN_MS: '0' }),
    });
    const [batch] = await db.sql<{ id: string }[]>`insert into batches (status) values ('paused') returning id`;
    batchId = batch!.id;
  }, 60_000);

  afterAll(async () => {
    setLogSink(previousSink);
    setLogLevel('info');
    await db?.drop();
  });

  const assertClean = (text: string) => {
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(TOKEN);
  };

  it('keeps them out of every pool, proxy and session path', async () => {
    const logger = createLogger({ component: 'test' });
    const errors: string[] = [];
    const proxy = await createProxy(db.sql, { url: `http://agent:${PASSWORD}@127.0.0.1:3999` });
    await createProxy(db.sql, { url: `http://agent:${PASSWORD}@127.0.0.1:3999` }).catch((e: Error) => errors.push(e.message));
    await createProxy(db.sql, { url: `socks5://agent:${PASSWORD}@127.0.0.1:1` }).catch((e: Error) => errors.push(e.message));
    const session = await createSession(db.sql, { token: TOKEN, proxyId: proxy.id });
    await createSession(db.sql, { token: TOKEN }).catch((e: Error) => errors.push(e.message));
    expect(errors).toHaveLength(3);

    // every release outcome, with failure messages that quote the secrets as a careless caller might
    const first = await pool.lease('h1');
    if (!first.ok) throw new Error('no lease');
    expect(first.lease).toMatchObject({ proxyPassword: PASSWORD, sessionToken: TOKEN });
    logger.info('a careless line', { lease: first.lease, err: new Error(`failed with sessionid=${TOKEN}`) });
    await pool.release(first.lease, { kind: 'rate_limited', retryAfterMs: 5 }, { batchId });
    await new Promise((r) => setTimeout(r, 20));

    const second = await pool.lease('h2', { leaseMs: 1 });
    if (!second.ok) throw new Error('no lease');
    await new Promise((r) => setTimeout(r, 20));
    const third = await pool.lease('h3');
    if (!third.ok) throw new Error('no lease');
    await pool.release(second.lease, { kind: 'success' }, { batchId }); // stale: logs a warning
    await pool.release(
      third.lease,
      { kind: 'proxy_failure', message: `tunnel to http://agent:${PASSWORD}@127.0.0.1:3999 failed (${PASSWORD})` },
      { batchId },
    );

    const fourth = await pool.lease('h4');
    if (!fourth.ok) throw new Error('no lease');
    await pool.release(
      fourth.lease,
      { kind: 'session_invalid', message: `checkpoint_required for Cookie: sessionid=${TOKEN} (${TOKEN})`, refusal: 'checkpoint' },
      { batchId },
    );
    const fifth = await pool.lease('h5');
    if (!fifth.ok) throw new Error('no lease');
    // second consecutive failure (the session failure did not count): disabled
    await pool.release(fifth.lease, { kind: 'proxy_failure', message: `proxy said ${PASSWORD}` }, { batchId });
    expect((await getProxy(db.sql, proxy.id)).status).toBe('disabled');

    // what was produced: log lines, batch logs, error messages, API shapes
    expect(lines.length).toBeGreaterThan(5);
    assertClean(lines.join('\n'));
    const events = (await listLogs(db.sql, batchId, { limit: 100 })).items;
    expect(events.map((e) => e.event_type)).toEqual(
      expect.arrayContaining(['PROXY_COOLDOWN', 'SESSION_INVALIDATED', 'PROXY_DISABLED']),
    );
    assertClean(JSON.stringify(events));
    const [raw] = await db.sql<{ dump: string }[]>`select coalesce(string_agg(batch_logs::text, '\n'), '') as dump from batch_logs`;
    assertClean(raw!.dump);
    assertClean(errors.join('\n'));
    assertClean(JSON.stringify([toApiProxy(proxy), await listProxies(db.sql, { limit: 10 }), await listSessions(db.sql, { limit: 10 })]));
    assertClean(JSON.stringify(session));
  });

  it('scrubs secret-named and registered values from batch log details before storing them', async () => {
    await insertLog(db.sql, {
      batchId,
      level: 'ERROR',
      eventType: 'CHECK_FAILED',
      message: `request via http://u:${PASSWORD}@h:1 failed`,
      details: {
        password: 'never-registered-pw',
        nested: { token: 'never-registered-token', list: [`sessionid=${TOKEN}`, PASSWORD] },
        error: new Error(`boom ${TOKEN}`),
        ok: 'kept',
      },
    });
    const events = (await listLogs(db.sql, batchId, { eventType: 'CHECK_FAILED', limit: 10 })).items;
    const text = JSON.stringify(events);
    assertClean(text);
    expect(text).not.toContain('never-registered');
    expect(events[0]!.details).toMatchObject({ password: '***', nested: { token: '***' }, ok: 'kept' });
  });

  it('keeps a token with quotes and backslashes out of log lines and stored logs', async () => {
    const token = 'Tok"en\\with-quote-3391';
    const escaped = JSON.stringify(token).slice(1, -1);
    // refused as a new session (it cannot be a cookie value), but one stored before that check is still a secret
    await db.sql`insert into sessions (token) values (${token})`;
    await loadSecrets(db.sql);
    const before = lines.length;
    createLogger({ component: 'test' }).warn(`upstream refused ${token}`, { cookie: `sessionid=${token}`, raw: token });
    await insertLog(db.sql, { batchId, level: 'WARNING', eventType: 'SESSION_INVALIDATED', message: `token ${token}`, details: { seen: token } });
    const logged = lines.slice(before).join('\n');
    expect(logged).not.toContain(escaped);
    expect(logged).not.toContain('with-quote');
    const [raw] = await db.sql<{ dump: string }[]>`select string_agg(batch_logs::text, '\n') as dump from batch_logs`;
    expect(raw!.dump).not.toContain('with-quote');
  });

  it('registers every stored password and token at start-up with loadSecrets', async () => {
    const storedPw = 'Stored-Before-Start-Pw-5521';
    const storedToken = 'Stored-Before-Start-Token-8812';
    await db.sql`insert into proxies (url, username, password) values ('http://127.0.0.1:4999', 'x', ${storedPw})`;
    await db.sql`insert into sessions (token) values (${storedToken})`;
    expect(redact(`pw ${storedPw} tok ${storedToken}`)).toContain(storedPw);

    expect(await loadSecrets(db.sql)).toBeGreaterThanOrEqual(3);
    expect(redact(`pw ${storedPw} tok ${storedToken}`)).toBe('pw *** tok ***');
  });
});
