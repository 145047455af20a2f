/** The two endpoints of docs/upstream.md, answered from the population (after the gate let the request through). */
import type { Hono } from 'hono';
import { corrupt, malformedBody, type CorruptReel, type SimEnv } from './malformed.js';
import type { SimReel } from './population.js';
import type { SimState } from './state.js';
import { bump } from './stats.js';

const MAX_REEL_IDS = 50;

export function serveEndpoints(app: Hono<SimEnv>, state: SimState): void {
  const { stats } = state;

  app.get('/api/v1/users/web_profile_info', (c) => {
    const { settings, population } = state;
    const username = c.req.query('username');
    if (!username) return c.json({ message: 'username is required', status: 'fail' }, 400);
    if (state.chance(settings.malformedRate)) {
      stats.faults.malformed++;
      return malformedBody(c, 'web_profile_info', state.random);
    }
    bump(stats.lookupsByUsername, username.toLowerCase());
    const poison = settings.overrides[username.toLowerCase()]?.poison;
    if (poison) {
      // a literal NUL in the message: what a broken source sends, and what Postgres refuses to store
      return c.body('{"message":"bad request\\u0000here","status":"fail"}', Number(poison) as 400 | 500, {
        'content-type': 'application/json',
      });
    }
    const profile = population.lookup(username);
    if (!profile) {
      return settings.notFoundStyle === '404'
        ? c.json({ message: 'User not found', status: 'fail' }, 404)
        : c.json({ data: { user: null }, status: 'ok' });
    }
    return c.json({
      data: { user: { id: profile.userId, username: profile.username, is_private: profile.isPrivate } },
      status: 'ok',
    });
  });

  app.get('/api/v1/feed/reels_media', (c) => {
    const { settings, population } = state;
    const ids = c.req.queries('reel_ids') ?? [];
    bump(stats.reelIdsPerRequest, String(ids.length));
    stats.maxReelIdsPerRequest = Math.max(stats.maxReelIdsPerRequest, ids.length);
    if (ids.length === 0) return c.json({ message: 'reel_ids is required', status: 'fail' }, 400);
    if (ids.length > MAX_REEL_IDS) return c.json({ message: 'Too many reels requested', status: 'fail' }, 400);
    if (state.chance(settings.malformedRate)) {
      stats.faults.malformed++;
      return malformedBody(c, 'reels_media', state.random);
    }
    const nowS = Math.floor(state.now() / 1000);
    const reels: Record<string, SimReel | CorruptReel> = Object.create(null) as Record<string, SimReel>;
    for (const id of ids) {
      if (!/^\d+$/.test(id)) continue;
      bump(stats.userIdsAsked, id);
      const reel = population.reel(id, nowS);
      if (!reel) continue;
      if (population.malformedReel(id) || state.chance(settings.malformedReelRate)) {
        stats.faults.malformedReels++;
        reels[id] = corrupt(reel);
      } else {
        reels[id] = reel;
      }
    }
    return c.json({ reels, status: 'ok' });
  });
}
