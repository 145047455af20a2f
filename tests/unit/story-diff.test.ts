import { describe, expect, it } from 'vitest';
import { diffStories, type OpenStoryItem } from '../../src/repos/story-diff.js';
import type { SeenStoryItem } from '../../src/upstream/answer-bodies.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-12-01T12:00:00Z');
const at = (hours: number) => new Date(T0 + hours * HOUR);

/** An item taken at `takenH` hours, living 24 h. */
const item = (pk: string, takenH: number): SeenStoryItem => ({
  pk,
  takenAt: at(takenH),
  expiringAt: at(takenH + 24),
  mediaType: 'image',
});
const open = (i: SeenStoryItem): OpenStoryItem => ({ pk: i.pk, expiringAt: i.expiringAt });

/** Applies a diff to the open items, as the writer does: posted ones open, ended ones close. */
function apply(state: OpenStoryItem[], diff: ReturnType<typeof diffStories>): OpenStoryItem[] {
  const ended = new Set(diff.ended.map((e) => e.pk));
  return [...state.filter((o) => !ended.has(o.pk)), ...diff.posted.map(open)];
}

describe('what a check means for a profile’s stories', () => {
  it('posts an item the first time it is seen live', () => {
    const a = item('a', 0);
    expect(diffStories([], [a], at(1))).toEqual({ posted: [a], seenAgain: [], ended: [] });
  });

  it('sees an item again without posting it twice', () => {
    const a = item('a', 0);
    const b = item('b', 2);
    expect(diffStories([open(a)], [a, b], at(3))).toEqual({ posted: [b], seenAgain: ['a'], ended: [] });
  });

  it('ends an item the answer no longer lists, at the check that found it gone', () => {
    const a = item('a', 0);
    const b = item('b', 1);
    expect(diffStories([open(a), open(b)], [b], at(5))).toEqual({ posted: [], seenAgain: ['b'], ended: [{ pk: 'a', endedAt: at(5) }] });
  });

  it('ends an item that expired while nobody checked at its expiring_at, whether listed or not', () => {
    const a = item('a', 0);
    // unchecked for two days: the source no longer lists it
    expect(diffStories([open(a)], [], at(48)).ended).toEqual([{ pk: 'a', endedAt: at(24) }]);
    // or still lists it, expired
    expect(diffStories([open(a)], [a], at(30))).toEqual({ posted: [], seenAgain: [], ended: [{ pk: 'a', endedAt: at(24) }] });
  });

  it('does not remember an item first seen already expired', () => {
    expect(diffStories([], [item('old', -30)], at(0))).toEqual({ posted: [], seenAgain: [], ended: [] });
  });

  it('an answer with no reel ends every open item and posts nothing', () => {
    const a = item('a', 0);
    const b = item('b', 1);
    const diff = diffStories([open(a), open(b)], [], at(2));
    expect(diff.posted).toEqual([]);
    expect(diff.ended.map((e) => e.pk).sort()).toEqual(['a', 'b']);
  });

  it('two overlapping attempts of one chunk: the one recorded second finds nothing new', () => {
    const a = item('a', 0);
    const b = item('b', 1);
    // both attempts asked before either was recorded, and got the same answer (or a later one)
    const first = diffStories([], [a, b], at(2));
    const second = diffStories(apply([], first), [a, b], at(2.5));
    expect(first.posted.map((i) => i.pk)).toEqual(['a', 'b']);
    expect(second).toEqual({ posted: [], seenAgain: ['a', 'b'], ended: [] });
  });

  it('over a day of checks posts each item once and ends it once, ended after posted', () => {
    const items = [item('a', 0), item('b', 6), item('c', 12), item('d', 18)];
    let state: OpenStoryItem[] = [];
    const events: string[] = [];
    for (let h = 1; h <= 60; h += 1) {
      const listed = items.filter((i) => i.takenAt <= at(h) && i.expiringAt > at(h));
      const diff = diffStories(state, listed, at(h));
      events.push(...diff.posted.map((i) => `posted ${i.pk}`), ...diff.ended.map((e) => `ended ${e.pk}`));
      state = apply(state, diff);
    }
    for (const pk of ['a', 'b', 'c', 'd']) {
      expect(events.filter((e) => e === `posted ${pk}`)).toHaveLength(1);
      expect(events.filter((e) => e === `ended ${pk}`)).toHaveLength(1);
      expect(events.indexOf(`posted ${pk}`)).toBeLessThan(events.indexOf(`ended ${pk}`));
    }
  });
});
