/**
 * The story client against the simulator, through real local forward proxies, over real sockets: every
 * outcome class of UPSTREAM.md end to end, batching, per-proxy rate limits, connection reuse, and that no
 * secret leaks into an error or a log line. Needs neither Postgres nor Temporal.
 */
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startForwardProxies, type ForwardProxies } from '../../src/local/forward-proxies.js';
import { createLogger, setLogLevel, setLogSink, type LogSink } from '../../src/logger.js';
import { createSimulator, startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/simulator/app.js';
import {
  MalformedResponse,
  ProfileNotFound,
  ProxyFailure,
  RateLimited,
  SessionInvalid,
  UpstreamError,
  UpstreamUnreachable,
  type UpstreamFailure,
} from '../../src/upstream/errors.js';
import { StoryClient, type UpstreamTarget } from '../../src/upstream/story-client.js';

const PROXY_USER = 'demo-user';
const PROXY_PASSWORD = 'Pr0xy-Passw0rd-xyz';
const SESSION = 'sess-Secret-Token-4242';
const APP_ID = '936619743392459';
const SECRETS = [PROXY_PASSWORD, SESSION, Buffer.from(`${PROXY_USER}:${PROXY_PASSWORD}`).toString('base64')];

/** Every setting a test may change, at its neutral value (restored before each test). */
const BASE: SimulatorOptions = {
  appId: APP_ID,
  storyRate: 0.3,
  expiredRate: 0.1,
  privateRate: 0,
  missingUsernames: ['ghost'],
  overrides: {
    live_three: { story: 'live', liveItems: 3 },
    only_expired: { story: 'expired' },
    no_story: { story: 'none' },
    broken_reel: { malformedReel: true },
  },
  notFoundStyle: '404',
  latencyMs: 0,
  jitterMs: 0,
  ratePerSecond: 0,
  burst: undefined,
  retryAfter: true,
  rateLimitStyle: '429',
  requireSession: false,
  invalidSessions: [],
  checkpointSessions: [],
  errorRate: 0,
  malformedRate: 0,
  malformedReelRate: 0,
  slowRate: 0,
  slowMs: 5_000,
  resetRate: 0,
};

let sim: RunningSimulator;
let proxies: ForwardProxies;
let client: StoryClient;
const clients: StoryClient[] = [];
const logLines: string[] = [];
const errorMessages: string[] = [];
let previousSink: LogSink;

function makeClient(overrides: { baseUrl?: string; timeoutMs?: number } = {}): StoryClient {
  const c = new StoryClient({
    baseUrl: overrides.baseUrl ?? sim.url,
    appId: APP_ID,
    userAgent: 'storycheck-test/1.0',
    timeoutMs: overrides.timeoutMs ?? 5_000,
    logger: createLogger({ component: 'story-client-test' }),
  });
  clients.push(c);
  return c;
}

function target(index: number, extra: Partial<UpstreamTarget> = {}): UpstreamTarget {
  const p = proxies.proxies[index]!;
  return {
    proxyId: `proxy-${index}`,
    proxyUrl: p.url,
    proxyUsername: PROXY_USER,
    proxyPassword: PROXY_PASSWORD,
    sessionToken: SESSION,
    ...extra,
  };
}

/** Awaits a call expected to fail with `kind`, keeping its message for the secrets check. */
async function failure<T extends UpstreamFailure>(
  call: Promise<unknown>,
  kind: abstract new (...args: never[]) => T,
): Promise<T> {
  const err = await call.then(
    () => {
      throw new Error(`expected ${kind.name}, the call succeeded`);
    },
    (e: unknown) => e,
  );
  if (err instanceof Error) errorMessages.push(err.message);
  expect(err).toBeInstanceOf(kind);
  return err as T;
}

/** A port nothing listens on: connections to it are refused. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const userIds = (usernames: string[]) => usernames.map((u) => sim.simulator.population.userIdOf(u));

beforeAll(async () => {
  previousSink = setLogSink((line) => logLines.push(line));
  setLogLevel('debug');
  sim = await startSimulator(BASE);
  proxies = await startForwardProxies({ count: 3, auth: { username: PROXY_USER, password: PROXY_PASSWORD } });
  client = makeClient();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await proxies?.close();
  await sim?.close();
  setLogSink(previousSink);
  setLogLevel('info');
});

beforeEach(() => {
  sim.setOptions(BASE);
  sim.reset();
});

describe('successful checks through an authenticated proxy', () => {
  it('resolves user ids and reads stories as the simulator defines them', async () => {
    const names = ['live_three', 'only_expired', 'no_story'];
    const resolved = [];
    for (const name of names) resolved.push(await client.resolveUserId(target(0), name));
    expect(resolved.map((r) => r.userId)).toEqual(userIds(names));
    expect(resolved.every((r) => r.isPrivate === false && r.durationMs >= 0)).toBe(true);

    const { results, durationMs } = await client.fetchStories(target(0), userIds(names));
    expect(durationMs).toBeGreaterThanOrEqual(0);
    const [live, expired, none] = userIds(names).map((id) => results.get(id));
    expect(live).toMatchObject({ ok: true, hasStory: true, storyCount: 3 });
    expect(live?.ok && live.latestStoryAt).toBeInstanceOf(Date);
    expect(expired).toEqual({ ok: true, hasStory: false, storyCount: 0, latestStoryAt: null });
    expect(none).toEqual({ ok: true, hasStory: false, storyCount: 0, latestStoryAt: null });
    // all four requests came out of proxy 0's own address
    expect(sim.stats.byClientAddress).toEqual({ [proxies.proxies[0]!.localAddress]: 4 });
  });

  it('agrees with the population over many generated profiles', async () => {
    const names = Array.from({ length: 50 }, (_, i) => `user_${i}`);
    const { results } = await client.fetchStories(target(0), userIds(names));
    for (const id of userIds(names)) {
      const truth = sim.simulator.population.storyState(id);
      expect(results.get(id)).toMatchObject({ ok: true, hasStory: truth === 'live' });
    }
  });
});

describe('outcome classes end to end', () => {
  it('rate limited by 429, with and without Retry-After', async () => {
    sim.setOptions({ ratePerSecond: 0.01, burst: 1, retryAfter: 30 });
    await client.fetchStories(target(0), userIds(['a']));
    const withHeader = await failure(client.fetchStories(target(0), userIds(['a'])), RateLimited);
    expect(withHeader.status).toBe(429);
    expect(withHeader.retryAfterMs).toBe(30_000);

    sim.setOptions({ retryAfter: true }); // computed: seconds until a token is back (~100 s at 0.01/s)
    const computed = await failure(client.resolveUserId(target(0), 'a'), RateLimited);
    expect(computed.retryAfterMs).toBeGreaterThanOrEqual(90_000);

    sim.setOptions({ retryAfter: false });
    const bare = await failure(client.fetchStories(target(0), userIds(['a'])), RateLimited);
    expect(bare.retryAfterMs).toBeUndefined();
  });

  it('rate limited by the "Please wait a few minutes" body, with and without Retry-After', async () => {
    sim.setOptions({ ratePerSecond: 0.01, burst: 1, rateLimitStyle: 'body', retryAfter: 12 });
    await client.resolveUserId(target(0), 'a');
    const withHeader = await failure(client.resolveUserId(target(0), 'a'), RateLimited);
    expect(withHeader.status).toBe(400);
    expect(withHeader.retryAfterMs).toBe(12_000);
    sim.setOptions({ retryAfter: false });
    const bare = await failure(client.fetchStories(target(0), userIds(['a'])), RateLimited);
    expect(bare.retryAfterMs).toBeUndefined();
  });

  it('a rate-limited proxy is reported with its Retry-After while the others carry on', async () => {
    sim.setOptions({ ratePerSecond: 0.01, burst: 2, retryAfter: 60 });
    const ids = userIds(['a', 'b']);
    await client.fetchStories(target(0), ids);
    await client.fetchStories(target(0), ids);
    const limited = await failure(client.fetchStories(target(0), ids), RateLimited);
    expect(limited.retryAfterMs).toBe(60_000);
    await expect(client.fetchStories(target(1), ids)).resolves.toMatchObject({ results: expect.any(Map) });
    expect(sim.stats.rateLimitedByClientAddress).toEqual({ [proxies.proxies[0]!.localAddress]: 1 });
  });

  it('profile not found, by 404 and by "user": null', async () => {
    for (const name of ['missing_person', 'ghost', 'not a valid username!']) {
      const err = await failure(client.resolveUserId(target(0), name), ProfileNotFound);
      expect(err.retryable).toBe(false);
    }
    sim.setOptions({ notFoundStyle: 'null' });
    const viaNull = await failure(client.resolveUserId(target(0), 'missing_person'), ProfileNotFound);
    expect(viaNull.status).toBe(200);
  });

  it('session invalid: no session where one is required, a logged-out token, a checkpoint', async () => {
    sim.setOptions({ requireSession: true });
    await expect(client.resolveUserId(target(0), 'a')).resolves.toMatchObject({ userId: expect.any(String) });
    const none = await failure(client.resolveUserId(target(0, { sessionToken: null }), 'a'), SessionInvalid);
    expect(none.status).toBe(401);

    sim.setOptions({ invalidSessions: [SESSION] });
    const loggedOut = await failure(client.fetchStories(target(0), userIds(['a'])), SessionInvalid);
    expect(loggedOut.status).toBe(401);

    sim.setOptions({ invalidSessions: [], checkpointSessions: [SESSION] });
    const checkpoint = await failure(client.fetchStories(target(0), userIds(['a'])), SessionInvalid);
    expect(checkpoint.status).toBe(403);
  });

  it('proxy failure: wrong credentials (407), no credentials (407), refused connection, failed tunnel', async () => {
    const wrong = await failure(client.resolveUserId(target(0, { proxyPassword: 'not-the-password' }), 'a'), ProxyFailure);
    expect(wrong.status).toBe(407);
    const anonymous = await failure(
      client.fetchStories(target(1, { proxyUsername: null, proxyPassword: null }), userIds(['a'])),
      ProxyFailure,
    );
    expect(anonymous.status).toBe(407);

    const refused = await failure(
      client.fetchStories(target(0, { proxyId: 'dead', proxyUrl: `http://127.0.0.1:${await closedPort()}` }), userIds(['a'])),
      ProxyFailure,
    );
    expect(refused.code).toBe('ECONNREFUSED');

    expect(sim.stats.requests).toBe(0);
  });

  it('upstream unreachable: the proxy answers the CONNECT with 502, which blames the source, not the proxy', async () => {
    const unreachable = makeClient({ baseUrl: `http://127.0.0.1:${await closedPort()}` });
    const started = Date.now();
    const err = await failure(unreachable.resolveUserId(target(2), 'a'), UpstreamUnreachable);
    expect(err.status).toBe(502);
    expect(err.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(sim.stats.requests).toBe(0);
  });

  it('upstream error: 500, a reset connection, a timeout', async () => {
    sim.setOptions({ errorRate: 1 });
    const serverError = await failure(client.fetchStories(target(0), userIds(['a'])), UpstreamError);
    expect([serverError.status, serverError.retryable]).toEqual([500, true]);

    sim.setOptions({ errorRate: 0, resetRate: 1 });
    const reset = await failure(client.resolveUserId(target(0), 'a'), UpstreamError);
    expect(reset.retryable).toBe(true);
    expect(sim.stats.faults.resets).toBe(1);

    sim.setOptions({ resetRate: 0, slowRate: 1, slowMs: 3_000 });
    const quick = makeClient({ timeoutMs: 300 });
    const started = Date.now();
    const timeout = await failure(quick.fetchStories(target(0), userIds(['a'])), UpstreamError);
    expect(timeout.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('malformed response: a 200 without the documented structure, on both endpoints', async () => {
    sim.setOptions({ malformedRate: 1 });
    // several tries cover the simulator's different broken shapes (HTML, wrong types, wrong keys)
    for (let i = 0; i < 4; i++) {
      await failure(client.resolveUserId(target(0), 'a'), MalformedResponse);
      await failure(client.fetchStories(target(0), userIds(['a', 'b'])), MalformedResponse);
    }
    expect(sim.stats.byStatus['200']).toBe(8);
  });

  it('a cancelled call rejects with the caller’s reason, not an upstream failure', async () => {
    sim.setOptions({ latencyMs: 2_000 });
    const controller = new AbortController();
    const call = client.fetchStories(target(0), userIds(['a']), controller.signal);
    setTimeout(() => controller.abort(new Error('cancelled by test')), 50);
    await expect(call).rejects.toThrow('cancelled by test');
  });
});

describe('batching', () => {
  it('sends 50 ids in one request and refuses 51 before sending anything', async () => {
    const ids = userIds(Array.from({ length: 51 }, (_, i) => `batch_${i}`));
    const { results } = await client.fetchStories(target(0), ids.slice(0, 50));
    expect(results.size).toBe(50);
    expect(sim.stats.byEndpoint).toEqual({ reels_media: 1 });
    expect(sim.stats.reelIdsPerRequest).toEqual({ '50': 1 });
    expect(Object.keys(sim.stats.userIdsAsked)).toHaveLength(50);

    sim.reset();
    await expect(client.fetchStories(target(0), ids)).rejects.toThrow(RangeError);
    await expect(client.fetchStories(target(0), [])).rejects.toThrow(RangeError);
    expect(sim.stats.requests).toBe(0);
  });

  it('one malformed reel fails only its own profile', async () => {
    const names = ['broken_reel', 'live_three', 'no_story'];
    const { results } = await client.fetchStories(target(0), userIds(names));
    const [broken, live, none] = userIds(names).map((id) => results.get(id));
    expect(broken?.ok).toBe(false);
    if (broken && !broken.ok) expect(broken.error).toBeInstanceOf(MalformedResponse);
    expect(live).toMatchObject({ ok: true, hasStory: true, storyCount: 3 });
    expect(none).toMatchObject({ ok: true, hasStory: false });
  });
});

describe('proxies and connections', () => {
  /** Requests accepted out of `total` sent round-robin over `proxyCount` proxies, with no time to refill. */
  async function accepted(proxyCount: number, total: number): Promise<number> {
    sim.reset();
    let ok = 0;
    for (let i = 0; i < total; i++) {
      try {
        await client.fetchStories(target(i % proxyCount), userIds(['a']));
        ok++;
      } catch (err) {
        if (!(err instanceof RateLimited)) throw err;
        errorMessages.push(err.message);
      }
    }
    return ok;
  }

  it('two proxies double the accepted rate under the per-address limit', async () => {
    // A burst of 5 and a refill of one token per 1000 s: the count is the burst, whatever the timing.
    sim.setOptions({ ratePerSecond: 0.001, burst: 5 });
    const one = await accepted(1, 20);
    const two = await accepted(2, 20);
    expect(one).toBe(5);
    expect(two).toBe(10);
    expect(sim.stats.rateLimitedByClientAddress).toEqual({
      [proxies.proxies[0]!.localAddress]: 5,
      [proxies.proxies[1]!.localAddress]: 5,
    });
  });

  it('reuses connections per proxy', async () => {
    const fresh = makeClient();
    for (let i = 0; i < 20; i++) await fresh.fetchStories(target(0), userIds(['a']));
    for (let i = 0; i < 10; i++) await fresh.resolveUserId(target(1), 'a');
    const [a0, a1] = [proxies.proxies[0]!.localAddress, proxies.proxies[1]!.localAddress];
    expect(sim.stats.byClientAddress).toEqual({ [a0]: 20, [a1]: 10 });
    expect(sim.stats.connectionsByClientAddress[a0]).toBeLessThanOrEqual(2);
    expect(sim.stats.connectionsByClientAddress[a1]).toBeLessThanOrEqual(2);

    // dropping a proxy's agent closes its connections: the next call opens a new one
    const before = sim.stats.connections;
    await fresh.closeProxy('proxy-0');
    await fresh.fetchStories(target(0), userIds(['a']));
    expect(sim.stats.connections).toBe(before + 1);
  });
});

describe('the simulator alone', () => {
  it('is deterministic, answers UPSTREAM.md shapes and spreads stories by storyRate', async () => {
    const a = createSimulator({ storyRate: 0.3 });
    const b = createSimulator({ storyRate: 0.3 });
    expect(a.population.userIdOf('someone')).toBe(b.population.userIdOf('someone'));
    expect(a.population.userIdOf('someone')).toMatch(/^\d{19}$/);

    const ids = Array.from({ length: 4_000 }, (_, i) => a.population.userIdOf(`p${i}`));
    const live = ids.filter((id) => a.population.storyState(id) === 'live').length / ids.length;
    expect(live).toBeGreaterThan(0.27);
    expect(live).toBeLessThan(0.33);

    const tooMany = await a.app.request(`/api/v1/feed/reels_media/?${ids.slice(0, 51).map((id) => `reel_ids=${id}`).join('&')}`);
    expect(tooMany.status).toBe(400);
    expect(await tooMany.json()).toEqual({ message: 'Too many reels requested', status: 'fail' });

    const profile = await a.app.request('/api/v1/users/web_profile_info/?username=someone');
    expect(await profile.json()).toEqual({
      data: { user: { id: a.population.userIdOf('someone'), username: 'someone', is_private: false } },
      status: 'ok',
    });
  });

  it('shows and clears its counters over HTTP, and refuses a wrong app id', async () => {
    const res = await fetch(`${sim.url}/api/v1/users/web_profile_info/?username=a`);
    expect(res.status).toBe(400); // no X-IG-App-ID
    const stats = (await (await fetch(`${sim.url}/__sim/stats`)).json()) as { requests: number; byStatus: Record<string, number> };
    expect(stats).toMatchObject({ requests: 1, byStatus: { '400': 1 } });
    await fetch(`${sim.url}/__sim/reset`, { method: 'POST' });
    expect(sim.stats.requests).toBe(0);
  });
});

describe('secrets', () => {
  it('never appear in an error message or a log line', () => {
    expect(errorMessages.length).toBeGreaterThan(20);
    expect(logLines.length).toBeGreaterThan(20);
    for (const text of [...errorMessages, ...logLines]) {
      for (const secret of SECRETS) expect(text).not.toContain(secret);
    }
  });
});
