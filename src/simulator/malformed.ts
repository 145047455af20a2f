/** The broken answers a faulty source sends: bodies that are not the documented structure. */
import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { SimReel } from './population.js';

export type SimEnv = { Bindings: HttpBindings };

export interface CorruptReel {
  id: string;
  latest_reel_media: string;
  items: Array<{ pk: null; taken_at: string }>;
}

export function corrupt(reel: SimReel): CorruptReel {
  return { id: reel.id, latest_reel_media: 'yesterday', items: [{ pk: null, taken_at: 'soon' }] };
}

/** A 200 that is not the documented structure, in one of the shapes a broken source sends. */
export function malformedBody(c: Context<SimEnv>, endpoint: 'web_profile_info' | 'reels_media', random: () => number): Response {
  const pick = Math.floor(random() * 3);
  if (pick === 0) return c.html('<!DOCTYPE html><html><body>Sorry, something went wrong.</body></html>');
  if (endpoint === 'web_profile_info') {
    return pick === 1
      ? c.json({ data: { user: { id: 12345, username: null, is_private: 'no' } }, status: 'ok' })
      : c.json({ status: 'ok' });
  }
  return pick === 1 ? c.json({ reels: [], status: 'ok' }) : c.json({ reels_media: [], status: 'ok' });
}
