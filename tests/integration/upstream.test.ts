/**
 * The story client against the simulator, through real local forward proxies, over real sockets: successful
 * checks, batching, per-proxy rate limits and connection reuse, and the simulator itself (the outcome classes
 * are in upstream-outcomes.test.ts). Needs neither Postgres nor Temporal.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createSimulator } from '../../src/simulator/app.js';
import { MalformedResponse, RateLimited } from '../../src/upstream/errors.js';
import { startUpstreamUnderTest } from '../helpers/upstream.js';

const up = startUpstreamUnderTest();
const { makeClient, target, userIds } = up;
afterAll(() => up.expectNoSecrets());

describe('successful checks through an authenticated proxy', () => {
  it('resolves user ids and reads stories as the simulator defines them', async () => {
    const names = ['live_three', 'only_expired', 'no_story'];
    const resolved = [];
    for (const name of names) resolved.push(await up.client.resolveUserId(target(0), name));
    expect(resolved.map((r) => r.userId)).toEqual(userIds(names));
    expect(resolved.every((r) => r.isPrivate === false && r.durationMs >= 0)).toBe(true);

    const { results, durationMs } = await up.client.fetchStories(target(0), userIds(names));
    expect(durationMs).toBeGreaterThanOrEqual(0);
    const [live, expired, none] = userIds(names).map((id) => results.get(id));
    expect(live).toMatchObject({ ok: true, hasStory: true, storyCount: 3 });
    expect(live?.ok && live.latestStoryAt).toBeInstanceOf(Date);
    expect(expired).toMatchObject({ ok: true, hasStory: false, storyCount: 0, latestStoryAt: null });
    expect(expired?.ok && expired.items.length).toBeGreaterThan(0);
    expect(none).toEqual({ ok: true, hasStory: false, storyCount: 0, latestStoryAt: null, items: [] });
    // all four requests came out of proxy 0's own address
    expect(up.sim.stats.byClientAddress).toEqual({ [up.proxies.proxies[0]!.localAddress]: 4 });
  });

  it('agrees with the population over many generated profiles', async () => {
    const names = Array.from({ length: 50 }, (_, i) => `user_${i}`);
    const { results } = await up.client.fetchStories(target(0), userIds(names));
    for (const id of userIds(names)) {
      const truth = up.sim.simulator.population.storyState(id);
      expect(results.get(id)).toMatchObject({ ok: true, hasStory: truth === 'live' });
    }
  });
});

describe('batching', () => {
  it('sends 50 ids in one request and refuses 51 before sending anything', async () => {
    const ids = userIds(Array.from({ length: 51 }, (_, i) => `batch_${i}`));
    const { results } = await up.client.fetchStories(target(0), ids.slice(0, 50));
    expect(results.size).toBe(50);
    expect(up.sim.stats.byEndpoint).toEqual({ reels_media: 1 });
    expect(up.sim.stats.reelIdsPerRequest).toEqual({ '50': 1 });
    expect(Object.keys(up.sim.stats.userIdsAsked)).toHaveLength(50);

    up.sim.reset();
    await expect(up.client.fetchStories(target(0), ids)).rejects.toThrow(RangeError);
    await expect(up.client.fetchStories(target(0), [])).rejects.toThrow(RangeError);
    expect(up.sim.stats.requests).toBe(0);
  });

  it('one malformed reel fails only its own profile', async () => {
    const names = ['broken_reel', 'live_three', 'no_story'];
    const { results } = await up.client.fetchStories(target(0), userIds(names));
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
    up.sim.reset();
    let ok = 0;
    for (let i = 0; i < total; i++) {
      try {
        await up.client.fetchStories(target(i % proxyCount), userIds(['a']));
        ok++;
      } catch (err) {
        if (!(err instanceof RateLimited)) throw err;
        up.errorMessages.push(err.message);
      }
    }
    return ok;
  }

  it('two proxies double the accepted rate under the per-address limit', async () => {
    // A burst of 5 and a refill of one token per 1000 s: the count is the burst, whatever the timing.
    up.sim.setOptions({ ratePerSecond: 0.001, burst: 5 });
    const one = await accepted(1, 20);
    const two = await accepted(2, 20);
    expect(one).toBe(5);
    expect(two).toBe(10);
    expect(up.sim.stats.rateLimitedByClientAddress).toEqual({
      [up.proxies.proxies[0]!.localAddress]: 5,
      [up.proxies.proxies[1]!.localAddress]: 5,
    });
  });

  it('reuses connections per proxy', async () => {
    const fresh = makeClient();
    for (let i = 0; i < 20; i++) await fresh.fetchStories(target(0), userIds(['a']));
    for (let i = 0; i < 10; i++) await fresh.resolveUserId(target(1), 'a');
    const [a0, a1] = [up.proxies.proxies[0]!.localAddress, up.proxies.proxies[1]!.localAddress];
    expect(up.sim.stats.byClientAddress).toEqual({ [a0]: 20, [a1]: 10 });
    expect(up.sim.stats.connectionsByClientAddress[a0]).toBeLessThanOrEqual(2);
    expect(up.sim.stats.connectionsByClientAddress[a1]).toBeLessThanOrEqual(2);

    // dropping a proxy's agent closes its connections: the next call opens a new one
    const before = up.sim.stats.connections;
    await fresh.closeProxy('proxy-0');
    await fresh.fetchStories(target(0), userIds(['a']));
    expect(up.sim.stats.connections).toBe(before + 1);
  });
});

describe('the simulator alone', () => {
  it('is deterministic, answers docs/upstream.md shapes and spreads stories by storyRate', async () => {
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
    const res = await fetch(`${up.sim.url}/api/v1/users/web_profile_info/?username=a`);
    expect(res.status).toBe(400); // no X-IG-App-ID
    const stats = (await (await fetch(`${up.sim.url}/__sim/stats`)).json()) as { requests: number; byStatus: Record<string, number> };
    expect(stats).toMatchObject({ requests: 1, byStatus: { '400': 1 } });
    await fetch(`${up.sim.url}/__sim/reset`, { method: 'POST' });
    expect(up.sim.stats.requests).toBe(0);
  });
});
