// The simulated profiles' stories as timelines: stable items that appear every P seconds on each posting lane and
// end TTL seconds after they were posted, through the population's public methods and the simulator's HTTP app.
import { describe, expect, it } from 'vitest';
import { createSimulator, type SimulatorOptions } from '../../src/simulator/app.js';
import type { Population, SimStoryItem } from '../../src/simulator/population.js';

const DAY_S = 86_400;
/** A moment well after the epoch, so every lane has posted many items before it. */
const T0 = Date.UTC(2026, 2, 1) / 1000;

const OVERRIDES = {
  one: { story: 'live', liveItems: 1 },
  two: { story: 'live', liveItems: 2 },
  three: { story: 'live', liveItems: 3 },
  gone: { story: 'expired' },
} satisfies SimulatorOptions['overrides'];

function population(options: SimulatorOptions = {}): Population {
  return createSimulator({ overrides: OVERRIDES, ...options }).population;
}

const idOf = (pop: Population, username: string) => pop.userIdOf(username);

/** What a client counts: the items of the reel whose expiring_at is after now. */
function liveAt(pop: Population, username: string, nowS: number): SimStoryItem[] {
  return pop.reel(idOf(pop, username), nowS)?.items.filter((item) => item.expiring_at > nowS) ?? [];
}

/** A reproducible source of moments (mulberry32), so a failure can be replayed. */
function moments(count: number, fromS: number, spanS: number, seed = 7): number[] {
  let a = seed;
  return Array.from({ length: count }, () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return fromS + Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * spanS);
  });
}

/** Profiles that post, by the population's own shares (no override): the first `count` usernames u0, u1, ... */
function postingUsernames(pop: Population, count: number): string[] {
  const names: string[] = [];
  for (let i = 0; names.length < count; i++) {
    if (pop.storyState(idOf(pop, `u${i}`)) === 'live') names.push(`u${i}`);
  }
  return names;
}

describe('a story item', () => {
  it('is the same item (pk, times, media) at every moment of its life', () => {
    const pop = population();
    const [item] = liveAt(pop, 'one', T0);
    expect(item).toBeDefined();
    expect(item!.pk).toMatch(/^\d+$/);
    expect([1, 2]).toContain(item!.media_type);
    expect(item!.expiring_at - item!.taken_at).toBe(DAY_S);
    for (const nowS of [item!.taken_at, item!.taken_at + 1, T0 + 3_600, item!.expiring_at - 1]) {
      expect(liveAt(pop, 'one', nowS)).toEqual([item]);
    }
  });

  it('is followed by a new one after P, and ends after TTL', () => {
    const pop = population({ storyTtlS: 600, storyPostEveryS: 200 });
    const first = liveAt(pop, 'one', T0).at(-1)!;
    const next = (nowS: number) => liveAt(pop, 'one', nowS).map((i) => i.pk);
    // the newest item at T0 is still the newest until P after it was posted; then another appears
    expect(next(first.taken_at + 199).at(-1)).toBe(first.pk);
    const after = liveAt(pop, 'one', first.taken_at + 200);
    expect(after.at(-1)).toMatchObject({ taken_at: first.taken_at + 200, expiring_at: first.taken_at + 800 });
    expect(after.at(-1)!.pk).not.toBe(first.pk);
    // the first one lives TTL: listed one second before its end, not counted from then on
    expect(next(first.taken_at + 599)).toContain(first.pk);
    expect(next(first.taken_at + 600)).not.toContain(first.pk);
    expect(next(first.taken_at + 5_000)).not.toContain(first.pk);
  });

  it('is replaced just as it ends under the defaults (P = TTL)', () => {
    const pop = population();
    const [item] = liveAt(pop, 'one', T0);
    const [successor] = liveAt(pop, 'one', item!.expiring_at);
    expect(successor).toMatchObject({ taken_at: item!.expiring_at, expiring_at: item!.expiring_at + DAY_S });
    expect(successor!.pk).not.toBe(item!.pk);
  });

  it('never appears before it is posted', () => {
    const pop = population({ storyTtlS: 600, storyPostEveryS: 120 });
    for (const nowS of moments(200, T0, 7 * DAY_S)) {
      for (const name of ['one', 'two', 'three', 'gone']) {
        const reel = pop.reel(idOf(pop, name), nowS);
        for (const item of reel?.items ?? []) expect(item.taken_at).toBeLessThanOrEqual(nowS);
        if (reel) expect(reel.latest_reel_media).toBe(Math.max(...reel.items.map((i) => i.taken_at)));
      }
    }
  });
});

describe('a posting profile', () => {
  it('has exactly as many live items as lanes at every moment under the defaults', () => {
    const pop = population();
    const hashed = postingUsernames(pop, 20);
    const lanesOf = new Map(hashed.map((name) => [name, liveAt(pop, name, T0).length]));
    for (const nowS of moments(200, T0, 30 * DAY_S)) {
      expect(liveAt(pop, 'one', nowS)).toHaveLength(1);
      expect(liveAt(pop, 'two', nowS)).toHaveLength(2);
      expect(liveAt(pop, 'three', nowS)).toHaveLength(3);
      for (const name of hashed) expect(liveAt(pop, name, nowS), name).toHaveLength(lanesOf.get(name)!);
    }
    // 1 to 3 lanes by hash, and not all the same
    expect(new Set(lanesOf.values())).toEqual(new Set([1, 2, 3]));
  });

  it('posts on each lane at moments of its own', () => {
    const pop = population();
    const taken = liveAt(pop, 'three', T0).map((i) => i.taken_at);
    expect(new Set(taken).size).toBe(3);
    // and so its items end one by one, each replaced as it ends
    const firstEnd = Math.min(...liveAt(pop, 'three', T0).map((i) => i.expiring_at));
    const after = liveAt(pop, 'three', firstEnd).map((i) => i.taken_at);
    expect(after.filter((t) => taken.includes(t))).toHaveLength(2);
  });

  it('shows new items over time: each lane posts once per P', () => {
    const pop = population({ storyTtlS: 600, storyPostEveryS: 300 });
    const posted = new Map<string, SimStoryItem>();
    for (let nowS = T0; nowS < T0 + 3_600; nowS++) {
      for (const item of liveAt(pop, 'two', nowS)) if (item.taken_at >= T0) posted.set(item.pk, item);
    }
    // two lanes, an hour, a post every 5 minutes on each: 24 items, each seen from the second it was posted
    expect(posted.size).toBe(24);
    const times = [...posted.values()].map((i) => i.taken_at).sort((a, b) => a - b);
    for (let i = 2; i < times.length; i++) expect(times[i]! - times[i - 2]!).toBe(300);
  });

  it('overlaps its items when it posts more often than they live (P < TTL)', () => {
    const pop = population({ storyTtlS: 900, storyPostEveryS: 300 });
    for (const nowS of moments(200, T0, 3 * DAY_S)) {
      expect(liveAt(pop, 'one', nowS)).toHaveLength(3);
      expect(liveAt(pop, 'two', nowS)).toHaveLength(6);
    }
  });

  it('has gaps without a live story when it posts less often than they live (P > TTL)', () => {
    const pop = population({ storyTtlS: 300, storyPostEveryS: 900 });
    const counts = moments(600, T0, 3 * DAY_S).map((nowS) => liveAt(pop, 'one', nowS).length);
    expect(Math.max(...counts)).toBe(1);
    const share = counts.filter((n) => n === 1).length / counts.length;
    // live a third of the time
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.45);
  });

  it('shows lane 0 last ended item in about half of the reels, never counted as live', () => {
    const pop = population();
    const names = postingUsernames(pop, 200);
    let withEnded = 0;
    for (const name of names) {
      const items = pop.reel(idOf(pop, name), T0)!.items;
      const ended = items.filter((i) => i.expiring_at <= T0);
      expect(ended.length).toBeLessThanOrEqual(1);
      if (ended.length === 0) continue;
      withEnded++;
      // under P = TTL, the item it ended for was posted as it expired
      expect(items.some((i) => i.taken_at === ended[0]!.expiring_at)).toBe(true);
    }
    expect(withEnded / names.length).toBeGreaterThan(0.35);
    expect(withEnded / names.length).toBeLessThan(0.65);
  });

  it('carries images and videos', () => {
    const pop = population({ storyTtlS: 600, storyPostEveryS: 60 });
    const media = liveAt(pop, 'three', T0).map((i) => i.media_type);
    expect(media).toHaveLength(30);
    expect(new Set(media)).toEqual(new Set([1, 2]));
  });
});

describe('an expired profile', () => {
  it('lists only its last ended item, at every moment', () => {
    const pop = population({ storyTtlS: 600, storyPostEveryS: 300 });
    for (const nowS of moments(200, T0, 3 * DAY_S)) {
      const reel = pop.reel(idOf(pop, 'gone'), nowS)!;
      expect(reel.items).toHaveLength(1);
      const [item] = reel.items;
      expect(item!.expiring_at).toBeLessThanOrEqual(nowS);
      // the newest that ended: the next one ends only after now
      expect(item!.expiring_at + 300).toBeGreaterThan(nowS);
    }
  });
});

describe('the seed', () => {
  it('makes two different worlds', () => {
    const a = liveAt(population({ seed: 'first' }), 'three', T0);
    const b = liveAt(population({ seed: 'second' }), 'three', T0);
    expect(a).toHaveLength(3);
    expect(b).toHaveLength(3);
    expect(new Set([...a, ...b].map((i) => i.pk)).size).toBe(6);
    expect(a.map((i) => i.taken_at)).not.toEqual(b.map((i) => i.taken_at));
  });

  it('gives the same world again', () => {
    expect(liveAt(population({ seed: 'first' }), 'three', T0)).toEqual(liveAt(population({ seed: 'first' }), 'three', T0));
  });
});

describe('through the simulator', () => {
  it('answers the same items on two requests, with the lifetime and interval set while it runs', async () => {
    const clock = { ms: T0 * 1000 };
    const sim = createSimulator({ overrides: OVERRIDES, now: () => clock.ms });
    const id = sim.population.userIdOf('one');
    const reel = async () => {
      const res = await sim.app.request(`/api/v1/feed/reels_media/?reel_ids=${id}`);
      const body = (await res.json()) as { reels: Record<string, { items: SimStoryItem[] }> };
      return body.reels[id]!.items.filter((i) => i.expiring_at * 1000 > clock.ms);
    };
    const [item] = await reel();
    clock.ms += 3_600_000;
    expect(await reel()).toEqual([item]);
    expect(item!.expiring_at - item!.taken_at).toBe(DAY_S);

    const res = await sim.app.request('/__sim/options', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ storyTtlS: 600, storyPostEveryS: 200 }),
    });
    expect(await res.json()).toMatchObject({ storyTtlS: 600, storyPostEveryS: 200 });
    const items = await reel();
    expect(items).toHaveLength(3);
    for (const i of items) expect(i.expiring_at - i.taken_at).toBe(600);
    const truth = await (await sim.app.request('/__sim/profiles/one')).json();
    expect(truth).toMatchObject({ exists: true, story: 'live', liveItems: 3 });
  });

  it('refuses a lifetime or an interval that is not a whole positive number of seconds', async () => {
    const sim = createSimulator();
    for (const body of [{ storyTtlS: 0 }, { storyPostEveryS: 1.5 }, { storyTtlS: '600' }]) {
      const res = await sim.app.request('/__sim/options', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(400);
    }
    expect(sim.settings.storyTtlS).toBe(DAY_S);
  });
});
