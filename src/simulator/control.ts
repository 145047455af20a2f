/** `/__sim/*`: what the simulator saw, the truth about a username, and changing how it behaves while it runs. */
import type { Hono } from 'hono';
import { z } from 'zod';
import type { SimEnv } from './malformed.js';
import type { SimState } from './state.js';

export function serveControl(app: Hono<SimEnv>, state: SimState): void {
  app.get('/__sim/stats', (c) => c.json(state.stats));
  app.post('/__sim/reset', (c) => {
    state.reset();
    return c.json({ status: 'ok' });
  });
  app.get('/__sim/options', (c) => c.json(state.settings));
  /** Settings to change (the others are kept), `profile` to start from, `clearCheckpoints: true` to clear them. */
  app.post('/__sim/options', async (c) => {
    const body: unknown = await c.req.json().catch(() => null);
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return c.json({ status: 'fail', message: 'body must be a JSON object' }, 400);
    }
    try {
      state.change(body);
    } catch (err) {
      if (err instanceof z.ZodError) return c.json({ status: 'fail', message: z.prettifyError(err) }, 400);
      throw err;
    }
    return c.json(state.settings);
  });
  /**
   * The truth about a username, for checking a run's results from outside: its story state, and how many of its
   * items are live now (by the simulator's clock; 0 in a posting profile's gap when posts are further apart than
   * an item lives).
   */
  app.get('/__sim/profiles/:username', (c) => {
    const { population } = state;
    const profile = population.lookup(c.req.param('username'));
    if (!profile) return c.json({ exists: false });
    const nowS = Math.floor(state.now() / 1000);
    const liveItems = population.reel(profile.userId, nowS)?.items.filter((item) => item.expiring_at > nowS).length ?? 0;
    return c.json({ exists: true, ...profile, story: population.storyState(profile.userId), liveItems });
  });
}
