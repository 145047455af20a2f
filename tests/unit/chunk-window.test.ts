import { describe, expect, it } from 'vitest';
import { ChunkWindow } from '../../workflows/chunk-window.js';

const page = [
  { profileIds: ['a', 'b'], lastOrdinal: 12 },
  { profileIds: ['c', 'd'], lastOrdinal: 20 },
  { profileIds: ['e'], lastOrdinal: 31 },
];

describe('ChunkWindow', () => {
  it('hands chunks out in page order, each knowing the cursor it was paged after', () => {
    const window = new ChunkWindow();
    window.addPage(page, 7);
    expect([window.takeReady(), window.takeReady(), window.takeReady()].map((c) => [c.afterOrdinal, c.lastOrdinal])).toEqual([
      [7, 12],
      [12, 20],
      [20, 31],
    ]);
    expect(window.hasReady).toBe(false);
  });

  it('moves a cursor back to before its first deferred chunk, so a fresh run pages them again', () => {
    const window = new ChunkWindow();
    window.addPage(page, 7);
    const first = window.takeReady();
    const second = window.takeReady();
    window.takeReady();
    expect(window.cursorCovering(31)).toBe(31);
    window.defer(second);
    expect(window.cursorCovering(31)).toBe(12);
    window.defer(first);
    expect(window.cursorCovering(31)).toBe(7);
  });

  it('is full when as many chunks are in flight as its size allows', () => {
    const window = new ChunkWindow();
    window.size = 2;
    window.inFlight = 1;
    expect(window.full).toBe(false);
    window.inFlight = 2;
    expect(window.full).toBe(true);
  });
});
