/**
 * The story client against the simulator, through real local forward proxies, over real sockets: every
 * outcome class of docs/upstream.md end to end, and that no secret leaks into an error or a log line. Needs neither
 * Postgres nor Temporal.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  AddressBlocked,
  MalformedResponse,
  ProfileNotFound,
  ProxyFailure,
  RateLimited,
  SessionInvalid,
  UpstreamError,
  UpstreamUnreachable,
} from '../../src/upstream/errors.js';
import { freePort as closedPort } from '../../src/local/ports.js';
import { startSilentProxies } from '../helpers/misbehaving-proxies.js';
import { SECRETS, SESSION, startUpstreamUnderTest } from '../helpers/upstream.js';

const up = startUpstreamUnderTest();
const { makeClient, target, failure, userIds } = up;
afterAll(() => up.expectNoSecrets());

describe('outcome classes end to end', () => {
  it('rate limited by 429, with and without Retry-After', async () => {
    up.sim.setOptions({ ratePerSecond: 0.01, burst: 1, retryAfter: 30 });
    await up.client.fetchStories(target(0), userIds(['a']));
    const withHeader = await failure(up.client.fetchStories(target(0), userIds(['a'])), RateLimited);
    expect(withHeader.status).toBe(429);
    expect(withHeader.retryAfterMs).toBe(30_000);

    up.sim.setOptions({ retryAfter: true }); // computed: seconds until a token is back (~100 s at 0.01/s)
    const computed = await failure(up.client.resolveUserId(target(0), 'a'), RateLimited);
    expect(computed.retryAfterMs).toBeGreaterThanOrEqual(90_000);

    up.sim.setOptions({ retryAfter: false });
    const bare = await failure(up.client.fetchStories(target(0), userIds(['a'])), RateLimited);
    expect(bare.retryAfterMs).toBeUndefined();
  });

  it('rate limited by the "Please wait a few minutes" body, with and without Retry-After', async () => {
    up.sim.setOptions({ ratePerSecond: 0.01, burst: 1, rateLimitStyle: 'body', retryAfter: 12 });
    await up.client.resolveUserId(target(0), 'a');
    const withHeader = await failure(up.client.resolveUserId(target(0), 'a'), RateLimited);
    expect(withHeader.status).toBe(400);
    expect(withHeader.retryAfterMs).toBe(12_000);
    up.sim.setOptions({ retryAfter: false });
    const bare = await failure(up.client.fetchStories(target(0), userIds(['a'])), RateLimited);
    expect(bare.retryAfterMs).toBeUndefined();
  });

  it('a rate-limited proxy is reported with its Retry-After while the others carry on', async () => {
    up.sim.setOptions({ ratePerSecond: 0.01, burst: 2, retryAfter: 60 });
    const ids = userIds(['a', 'b']);
    await up.client.fetchStories(target(0), ids);
    await up.client.fetchStories(target(0), ids);
    const limited = await failure(up.client.fetchStories(target(0), ids), RateLimited);
    expect(limited.retryAfterMs).toBe(60_000);
    await expect(up.client.fetchStories(target(1), ids)).resolves.toMatchObject({ results: expect.any(Map) });
    expect(up.sim.stats.rateLimitedByClientAddress).toEqual({ [up.proxies.proxies[0]!.localAddress]: 1 });
  });

  it('profile not found, by 404 and by "user": null', async () => {
    for (const name of ['missing_person', 'ghost', 'not a valid username!']) {
      await failure(up.client.resolveUserId(target(0), name), ProfileNotFound);
    }
    up.sim.setOptions({ notFoundStyle: 'null' });
    const viaNull = await failure(up.client.resolveUserId(target(0), 'missing_person'), ProfileNotFound);
    expect(viaNull.status).toBe(200);
  });

  it('session invalid: no session where one is required, a logged-out token, a checkpoint', async () => {
    up.sim.setOptions({ requireSession: true });
    await expect(up.client.resolveUserId(target(0), 'a')).resolves.toMatchObject({ userId: expect.any(String) });
    const none = await failure(up.client.resolveUserId(target(0, { sessionToken: null }), 'a'), SessionInvalid);
    expect(none.status).toBe(401);

    up.sim.setOptions({ invalidSessions: [SESSION] });
    const loggedOut = await failure(up.client.fetchStories(target(0), userIds(['a'])), SessionInvalid);
    expect(loggedOut.status).toBe(401);

    up.sim.setOptions({ invalidSessions: [], checkpointSessions: [SESSION] });
    const checkpoint = await failure(up.client.fetchStories(target(0), userIds(['a'])), SessionInvalid);
    expect([checkpoint.status, checkpoint.refusal]).toEqual([403, 'checkpoint']);

    // logged out, the stories call is sent to the login page
    up.sim.setOptions({ checkpointSessions: [], requireSession: false, loggedOutReels: 'redirect' });
    const redirected = await failure(up.client.fetchStories(target(0, { sessionToken: null }), userIds(['a'])), SessionInvalid);
    expect([redirected.status, redirected.refusal]).toEqual([302, 'login']);
  });

  it('a session token that cannot be a cookie value is the session\'s failure, and nothing is sent', async () => {
    const before = up.sim.stats.requests;
    for (const sessionToken of ['pasted\r\ntoken', 'tök3n', 'two words']) {
      const err = await failure(up.client.resolveUserId(target(0, { sessionToken }), 'a'), SessionInvalid);
      expect(err.refusal).toBe('unsendable');
    }
    expect(up.sim.stats.requests).toBe(before);
  });

  it('a 403 without a session message refuses the address; an answer larger than the cap is the upstream\'s failure', async () => {
    up.sim.setOptions({ flaggedAddresses: [up.proxies.proxies[0]!.localAddress] });
    await failure(up.client.fetchStories(target(0), userIds(['a'])), AddressBlocked);
    await expect(up.client.fetchStories(target(1), userIds(['a']))).resolves.toMatchObject({ results: expect.any(Map) });

    const small = makeClient({ maxAnswerBytes: 8 });
    const tooLarge = await failure(small.fetchStories(target(1), userIds(['a', 'b', 'c'])), UpstreamError);
    expect(tooLarge.code).toBe('ANSWER_TOO_LARGE');
  });

  it('proxy failure: wrong credentials (407), no credentials (407), refused connection, failed tunnel', async () => {
    const wrong = await failure(up.client.resolveUserId(target(0, { proxyPassword: 'not-the-password' }), 'a'), ProxyFailure);
    expect(wrong.status).toBe(407);
    const anonymous = await failure(
      up.client.fetchStories(target(1, { proxyUsername: null, proxyPassword: null }), userIds(['a'])),
      ProxyFailure,
    );
    expect(anonymous.status).toBe(407);

    const refused = await failure(
      up.client.fetchStories(target(0, { proxyId: 'dead', proxyUrl: `http://127.0.0.1:${await closedPort()}` }), userIds(['a'])),
      ProxyFailure,
    );
    expect(refused.code).toBe('ECONNREFUSED');

    expect(up.sim.stats.requests).toBe(0);
  });

  it('upstream unreachable: the proxy answers the CONNECT with 502, which blames the source, not the proxy', async () => {
    const unreachable = makeClient({ baseUrl: `http://127.0.0.1:${await closedPort()}` });
    const started = Date.now();
    const err = await failure(unreachable.resolveUserId(target(2), 'a'), UpstreamUnreachable);
    expect(err.status).toBe(502);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(up.sim.stats.requests).toBe(0);
  });

  it('upstream error: 500, a reset connection, a timeout', async () => {
    up.sim.setOptions({ errorRate: 1 });
    const serverError = await failure(up.client.fetchStories(target(0), userIds(['a'])), UpstreamError);
    expect(serverError.status).toBe(500);

    up.sim.setOptions({ errorRate: 0, resetRate: 1 });
    await failure(up.client.resolveUserId(target(0), 'a'), UpstreamError);
    expect(up.sim.stats.faults.resets).toBe(1);

    up.sim.setOptions({ resetRate: 0, slowRate: 1, slowMs: 3_000 });
    const quick = makeClient({ timeoutMs: 300 });
    const started = Date.now();
    const timeout = await failure(quick.fetchStories(target(0), userIds(['a'])), UpstreamError);
    expect(timeout.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a proxy that accepts the connection and never answers the tunnel request is given up at the timeout', async () => {
    const silent = await startSilentProxies(1);
    try {
      const quick = makeClient({ timeoutMs: 300 });
      const started = Date.now();
      const err = await failure(quick.fetchStories(target(0, { proxyId: 'silent', proxyUrl: silent.urls[0]! }), userIds(['a'])), UpstreamError);
      expect(err.code).toBe('TIMEOUT');
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await silent.close();
    }
  });

  it('malformed response: a 200 without the documented structure, on both endpoints', async () => {
    up.sim.setOptions({ malformedRate: 1 });
    // several tries cover the simulator's different broken shapes (HTML, wrong types, wrong keys)
    for (let i = 0; i < 4; i++) {
      await failure(up.client.resolveUserId(target(0), 'a'), MalformedResponse);
      await failure(up.client.fetchStories(target(0), userIds(['a', 'b'])), MalformedResponse);
    }
    expect(up.sim.stats.byStatus['200']).toBe(8);
  });

  it('a cancelled call rejects with the caller’s reason, not an upstream failure', async () => {
    up.sim.setOptions({ latencyMs: 2_000 });
    const controller = new AbortController();
    const call = up.client.fetchStories(target(0), userIds(['a']), controller.signal);
    setTimeout(() => controller.abort(new Error('cancelled by test')), 50);
    await expect(call).rejects.toThrow('cancelled by test');
  });
});

describe('secrets', () => {
  it('never appear in an error message or a log line', () => {
    expect(up.errorMessages.length).toBeGreaterThan(20);
    expect(up.logLines.length).toBeGreaterThan(20);
    for (const text of [...up.errorMessages, ...up.logLines]) {
      for (const secret of SECRETS) expect(text).not.toContain(secret);
    }
  });
});
