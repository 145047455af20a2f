// The simulator's realistic behaviours, through its HTTP app in process (clock and randomness injected):
// windows answered 429 without Retry-After, random 429s, the login redirect, checkpoints, flagged addresses,
// 5xx bursts, and the realistic profile with its time scale.
import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, realisticSettings, startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/simulator/app.js';
import { isFlagged } from '../../src/simulator/realistic.js';

const PLEASE_WAIT = { message: 'Please wait a few minutes before you try again.', status: 'fail' };
const ID = '1234567890123456789';
const STORIES = `/api/v1/feed/reels_media/?reel_ids=${ID}`;
const LOOKUP = '/api/v1/users/web_profile_info/?username=someone';

/** A simulator on a clock the test moves, with randomness it scripts (0.99 once the script runs out: nothing happens). */
function simulator(options: SimulatorOptions = {}) {
  const clock = { ms: Date.UTC(2026, 0, 1) };
  const script: number[] = [];
  const sim = createSimulator({ now: () => clock.ms, random: () => script.shift() ?? 0.99, ...options });
  const get = (path: string, token?: string) =>
    sim.app.request(path, token === undefined ? {} : { headers: { cookie: `sessionid=${token}` } });
  const statuses = async (n: number, path: string, token?: string) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await get(path, token)).status);
    return out;
  };
  return { sim, clock, script, get, statuses };
}

describe('rate limits by window', () => {
  it('answers 429 without Retry-After once a window is full, for as long as the address keeps sending', async () => {
    const { sim, clock, get, statuses } = simulator({
      windows: [{ requests: 2, windowMs: 60_000 }],
      retryAfter: false,
      rateLimitStyle: '429-wait',
    });
    expect(await statuses(2, STORIES, 'tok')).toEqual([200, 200]);
    const limited = await get(STORIES, 'tok');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBeNull();
    expect(await limited.json()).toEqual(PLEASE_WAIT);

    // two more just before the first two leave the window: a minute after those, the window would be free
    // had they not been sent; they count, so it is still full
    clock.ms += 59_000;
    expect(await statuses(2, STORIES, 'tok')).toEqual([429, 429]);
    clock.ms += 2_000;
    expect((await get(STORIES, 'tok')).status).toBe(429);
    // quiet for a whole window: allowed again
    clock.ms += 60_000;
    expect((await get(STORIES, 'tok')).status).toBe(200);
    expect(sim.stats.rateLimitedBy).toEqual({ bucket: 0, window: 4, random: 0 });
    expect(sim.stats.rateLimited).toBe(4);
  });

  it('limits logged-out requests lower than those with a session', async () => {
    const { statuses } = simulator({
      windows: [{ requests: 3, windowMs: 60_000 }],
      loggedOutWindows: [{ requests: 1, windowMs: 60_000 }],
    });
    expect(await statuses(2, LOOKUP)).toEqual([200, 429]);
    expect(await statuses(2, LOOKUP, 'tok')).toEqual([200, 429]);
  });

  it('says how long to wait when Retry-After is asked for', async () => {
    const { get } = simulator({ windows: [{ requests: 1, windowMs: 90_000 }], retryAfter: true });
    await get(LOOKUP);
    expect((await get(LOOKUP)).headers.get('retry-after')).toBe('90');
  });

  it('refuses a share of requests at random whatever the pace, with Retry-After as set', async () => {
    const { sim, script, get } = simulator({ rateLimitShare: 0.02, retryAfter: false });
    script.push(0.5, 0.01);
    expect((await get(LOOKUP)).status).toBe(200);
    const random = await get(LOOKUP);
    expect(random.status).toBe(429);
    expect(random.headers.get('retry-after')).toBeNull();

    sim.setOptions({ retryAfter: true });
    script.push(0.01);
    expect((await get(LOOKUP)).headers.get('retry-after')).toBe('1');
    expect(sim.stats.rateLimitedBy).toEqual({ bucket: 0, window: 0, random: 2 });
  });
});

describe('sessions', () => {
  it('sends logged-out story requests to the login page, and answers lookups', async () => {
    const { sim, get } = simulator({ loggedOutReels: 'redirect' });
    const res = await get(STORIES);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`https://localhost/accounts/login/?next=${encodeURIComponent(STORIES)}`);
    expect((await get(STORIES, 'tok')).status).toBe(200);
    expect((await get(LOOKUP)).status).toBe(200);
    expect(sim.stats.redirects).toBe(1);

    sim.setOptions({ loggedOutReels: 'login_required' });
    const refused = await get(STORIES);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ message: 'login_required', status: 'fail' });
  });

  it('checkpoints a session past its allowance until the checkpoints are cleared', async () => {
    const { sim, statuses, get } = simulator({ checkpointAfter: 3, checkpointStatus: 400 });
    expect(await statuses(5, LOOKUP, 'busy')).toEqual([200, 200, 200, 400, 400]);
    expect(await (await get(STORIES, 'busy')).json()).toEqual({ message: 'checkpoint_required', status: 'fail' });
    expect(await statuses(3, STORIES, 'quiet')).toEqual([200, 200, 200]);
    expect(await statuses(2, LOOKUP)).toEqual([200, 200]);

    // a higher allowance does not clear it: a person does
    sim.setOptions({ checkpointAfter: 1_000 });
    expect((await get(LOOKUP, 'busy')).status).toBe(400);
    const cleared = await sim.app.request('/__sim/options', { method: 'POST', body: JSON.stringify({ clearCheckpoints: true }) });
    expect(cleared.status).toBe(200);
    expect(await cleared.json()).not.toHaveProperty('clearCheckpoints');
    expect((await get(LOOKUP, 'busy')).status).toBe(200);
    expect(sim.stats).toMatchObject({ checkpoints: 4, checkpointedSessions: 1 });
  });

  it('forgets the sessions\' counts on reset', async () => {
    const { sim, statuses } = simulator({ checkpointAfter: 1 });
    expect(await statuses(2, LOOKUP, 'tok')).toEqual([200, 403]);
    sim.reset();
    expect(await statuses(2, LOOKUP, 'tok')).toEqual([200, 403]);
  });
});

describe('flagged addresses', () => {
  it('answers 403 Forbidden to every request of a flagged address, with or without a session', async () => {
    const { sim, get } = simulator({ flaggedAddresses: ['in-process'] });
    for (const res of [await get(LOOKUP), await get(STORIES, 'tok'), await get(STORIES)]) {
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ message: 'Forbidden', status: 'fail' });
    }
    expect(sim.stats.blocked).toBe(3);
    expect(sim.stats.blockedByClientAddress).toEqual({ 'in-process': 3 });
  });

  it('flags a share of addresses chosen by the seed, the same in every run', () => {
    const addresses = Array.from({ length: 2_000 }, (_, i) => `10.${i >> 8}.${i & 255}.1`);
    const flagged = (seed: string) => addresses.filter((a) => isFlagged(a, { seed, flaggedShare: 0.1, flaggedAddresses: [] }));
    expect(flagged('one').length / addresses.length).toBeGreaterThan(0.08);
    expect(flagged('one').length / addresses.length).toBeLessThan(0.12);
    expect(flagged('one')).toEqual(flagged('one'));
    expect(flagged('two')).not.toEqual(flagged('one'));
  });

  describe('over a socket', () => {
    let running: RunningSimulator | undefined;
    afterEach(async () => running?.close());

    it('refuses the address the simulator sees', async () => {
      running = await startSimulator({ flaggedAddresses: ['127.0.0.1'] });
      const res = await fetch(`${running.url}${LOOKUP}`);
      expect(res.status).toBe(403);
      expect(running.stats.blockedByClientAddress).toEqual({ '127.0.0.1': 1 });
    });
  });
});

describe('bursts of 5xx', () => {
  it('answers the same 5xx to the next requests once a burst starts, then recovers', async () => {
    const { sim, script, statuses } = simulator({ errorBurstRate: 0.01, errorBurstRequests: 3 });
    // no burst, then one starts (0.005 < 0.01) and draws its status (0.5: the middle one, 502)
    script.push(0.5, 0.005, 0.5);
    expect(await statuses(5, LOOKUP)).toEqual([200, 502, 502, 502, 200]);
    expect(sim.stats.errorBursts).toEqual({ started: 1, answers: 3 });
  });

  it('ends a burst after its time, divided by the time scale', async () => {
    const { clock, script, statuses } = simulator({ errorBurstRate: 0.01, errorBurstRequests: 0, errorBurstMs: 60_000, timeScale: 60 });
    script.push(0, 0);
    expect(await statuses(3, LOOKUP)).toEqual([500, 500, 500]);
    clock.ms += 999;
    expect(await statuses(1, LOOKUP)).toEqual([500]);
    clock.ms += 1;
    expect(await statuses(1, LOOKUP)).toEqual([200]);
  });

  it('stops a burst in progress when bursts are turned off', async () => {
    const { sim, script, statuses } = simulator({ errorBurstRate: 0.01, errorBurstRequests: 100 });
    script.push(0, 0.9);
    expect(await statuses(2, LOOKUP)).toEqual([503, 503]);
    sim.setOptions({ errorBurstRate: 0 });
    expect(await statuses(1, LOOKUP)).toEqual([200]);
  });
});

describe('the realistic profile', () => {
  it('sets the real source\'s shapes, over the current settings, and friendly sets them back', async () => {
    const { sim } = simulator({ profile: 'realistic', timeScale: 60, latencyMs: 5 });
    expect(sim.settings).toMatchObject({ ...realisticSettings(60), latencyMs: 5 });
    expect(sim.settings).toMatchObject({ retryAfter: false, rateLimitShare: 0.02, loggedOutReels: 'redirect', flaggedAddresses: [] });

    const post = (body: unknown) => sim.app.request('/__sim/options', { method: 'POST', body: JSON.stringify(body) });
    expect(await (await post({ profile: 'friendly' })).json()).toMatchObject({ windows: [], retryAfter: true, timeScale: 1, latencyMs: 5 });
    // the keys given apply over the profile's; the time scale is kept unless given
    await post({ timeScale: 600 });
    expect(await (await post({ profile: 'realistic', checkpointAfter: 50 })).json()).toMatchObject({ checkpointAfter: 50, timeScale: 600 });
    expect((await post({ profile: 'hostile' })).status).toBe(400);
    expect(sim.settings.checkpointAfter).toBe(50);
  });

  it('plays 20 requests per 11 minutes as 20 per 11 s at time scale 60', async () => {
    // only the 11-minute window, so that the count is what it limits
    const { clock, statuses } = simulator({
      profile: 'realistic',
      timeScale: 60,
      windows: [{ requests: 20, windowMs: 11 * 60_000 }],
      rateLimitShare: 0,
      errorBurstRate: 0,
      slowRate: 0,
    });
    const start = clock.ms;
    const sent: number[] = [];
    for (let i = 0; i < 21; i++) {
      clock.ms = start + i * 100;
      sent.push(...(await statuses(1, STORIES, 'tok')));
    }
    expect(sent.filter((s) => s === 200)).toHaveLength(20);
    expect(sent.at(-1)).toBe(429);
    // the refused request counts too: the window frees up when the second request leaves it, 11 s after it was
    // sent (at scale 1 that would take 11 minutes)
    clock.ms = start + 11_100;
    expect(await statuses(1, STORIES, 'tok')).toEqual([200]);
  });
});
