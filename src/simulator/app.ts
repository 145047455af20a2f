/**
 * The upstream simulator: a story source that follows UPSTREAM.md exactly, with the limits and faults a real
 * one has (per-address rate limits, sessions, latency, 5xx, malformed bodies, resets), all adjustable while
 * it runs. It serves the demo, the benchmark and the tests; `/__sim/*` shows what it saw and changes how it
 * behaves.
 *
 * Rate limits are per client address, read from the socket: requests through a proxy arrive from the proxy's
 * address, so each proxy has a bucket of its own.
 */
import type { Socket } from 'node:net';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve, type HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { z } from 'zod';
import { corrupt, malformedBody, type CorruptReel, type SimEnv as Env } from './malformed.js';
import { Population, type SimReel } from './population.js';
import { RateLimiter } from './rate-limiter.js';
import { simulatorSettingsSchema, type SimulatorOptions, type SimulatorSettings } from './settings.js';
import { bump, emptyStats, type SimulatorStats } from './stats.js';

export { simulatorSettingsSchema, type SimulatorOptions, type SimulatorSettings } from './settings.js';
export type { SimulatorStats } from './stats.js';

export interface Simulator {
  app: Hono<{ Bindings: HttpBindings }>;
  /** Live counters (the object is updated in place, never replaced). */
  stats: SimulatorStats;
  /** Clears the counters and refills every rate-limit bucket. */
  reset(): void;
  setOptions(partial: SimulatorOptions): void;
  readonly settings: SimulatorSettings;
  readonly population: Population;
}

const FAIL_RATE_LIMIT = { message: 'Please wait a few minutes before you try again.', status: 'fail' } as const;
const MAX_REEL_IDS = 50;

function endpointOf(path: string): string {
  if (/^\/api\/v1\/users\/web_profile_info\/?$/.test(path)) return 'web_profile_info';
  if (/^\/api\/v1\/feed\/reels_media\/?$/.test(path)) return 'reels_media';
  return 'other';
}

/** The socket behind a request; absent when the app is called in-process (`app.request`). */
function socketOf(c: Context<Env>): Socket | undefined {
  return (c.env as Partial<HttpBindings> | undefined)?.incoming?.socket;
}

function addressOf(socket: Socket | undefined): string {
  const address = socket?.remoteAddress ?? 'in-process';
  // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const { random: randomOption, now: nowOption, ...initial } = options;
  let random = randomOption ?? Math.random;
  let now = nowOption ?? Date.now;
  let settings = simulatorSettingsSchema.parse(initial);
  let population = new Population(settings);
  const stats = emptyStats();
  let seenSockets = new WeakSet<Socket>();
  const limiter = new RateLimiter();

  const chance = (share: number) => share > 0 && random() < share;

  const app = new Hono<Env>({ strict: false });

  app.get('/__sim/stats', (c) => c.json(stats));
  app.post('/__sim/reset', (c) => {
    reset();
    return c.json({ status: 'ok' });
  });
  app.get('/__sim/options', (c) => c.json(settings));
  app.post('/__sim/options', async (c) => {
    const body: unknown = await c.req.json().catch(() => null);
    const parsed = simulatorSettingsSchema.safeParse({ ...settings, ...(body && typeof body === 'object' ? body : {}) });
    if (!parsed.success || !body || typeof body !== 'object') {
      return c.json({ status: 'fail', message: parsed.success ? 'body must be a JSON object' : z.prettifyError(parsed.error) }, 400);
    }
    applySettings(parsed.data);
    return c.json(settings);
  });
  /** The truth about a username, for checking a run's results from outside. */
  app.get('/__sim/profiles/:username', (c) => {
    const profile = population.lookup(c.req.param('username'));
    if (!profile) return c.json({ exists: false });
    return c.json({ exists: true, ...profile, story: population.storyState(profile.userId) });
  });

  // Everything a real source does before answering: count, rate limit, latency, session, faults.
  app.use('/api/*', async (c, next) => {
    const socket = socketOf(c);
    const address = addressOf(socket);
    const endpoint = endpointOf(c.req.path);
    stats.requests++;
    bump(stats.byEndpoint, endpoint);
    bump(stats.byClientAddress, address);
    if (socket && !seenSockets.has(socket)) {
      seenSockets.add(socket);
      stats.connections++;
      bump(stats.connectionsByClientAddress, address);
    }

    const storm = chance(settings.rateLimitShare);
    const waitS = storm ? 1 : limiter.take(address, settings, now());
    const delay = settings.latencyMs + (settings.jitterMs > 0 ? Math.floor(random() * (settings.jitterMs + 1)) : 0);
    if (delay > 0) await sleep(delay);

    const answer = (res: Response) => {
      bump(stats.byStatus, String(res.status));
      return res;
    };

    if (waitS !== null) {
      stats.rateLimited++;
      bump(stats.rateLimitedByClientAddress, address);
      const retryAfter =
        settings.retryAfter === false ? null : settings.retryAfter === true ? Math.max(1, Math.ceil(waitS)) : settings.retryAfter;
      const headers: Record<string, string> = retryAfter === null ? {} : { 'Retry-After': String(retryAfter) };
      return answer(
        settings.rateLimitStyle === '429'
          ? c.json({ message: 'Too many requests', status: 'fail' }, 429, headers)
          : c.json(FAIL_RATE_LIMIT, 400, headers),
      );
    }

    if (settings.appId !== null && c.req.header('x-ig-app-id') !== settings.appId) {
      return answer(c.json({ message: 'useragent mismatch', status: 'fail' }, 400));
    }
    const token = getCookie(c, 'sessionid');
    if (token !== undefined && settings.checkpointSessions.includes(token)) {
      return answer(c.json({ message: 'checkpoint_required', status: 'fail' }, 403));
    }
    if ((token !== undefined && settings.invalidSessions.includes(token)) || (settings.requireSession && !token)) {
      return answer(c.json({ message: 'login_required', require_login: true, status: 'fail' }, 401));
    }

    if (chance(settings.resetRate)) {
      stats.faults.resets++;
      bump(stats.byStatus, 'reset');
      socket?.destroy();
      // Nothing reaches the client; this answer only ends the handler.
      return new Response(null, { status: 500 });
    }
    if (chance(settings.errorRate)) {
      stats.faults.errors++;
      return answer(c.json({ message: 'Internal server error', status: 'fail' }, 500));
    }
    if (chance(settings.slowRate)) {
      stats.faults.slow++;
      await sleep(settings.slowMs);
    }
    await next();
    bump(stats.byStatus, String(c.res.status));
  });

  app.get('/api/v1/users/web_profile_info', (c) => {
    const username = c.req.query('username');
    if (!username) return c.json({ message: 'username is required', status: 'fail' }, 400);
    if (chance(settings.malformedRate)) {
      stats.faults.malformed++;
      return malformedBody(c, 'web_profile_info', random);
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
    const ids = c.req.queries('reel_ids') ?? [];
    bump(stats.reelIdsPerRequest, String(ids.length));
    stats.maxReelIdsPerRequest = Math.max(stats.maxReelIdsPerRequest, ids.length);
    if (ids.length === 0) return c.json({ message: 'reel_ids is required', status: 'fail' }, 400);
    if (ids.length > MAX_REEL_IDS) return c.json({ message: 'Too many reels requested', status: 'fail' }, 400);
    if (chance(settings.malformedRate)) {
      stats.faults.malformed++;
      return malformedBody(c, 'reels_media', random);
    }
    const nowS = Math.floor(now() / 1000);
    const reels: Record<string, SimReel | CorruptReel> = Object.create(null) as Record<string, SimReel>;
    for (const id of ids) {
      if (!/^\d+$/.test(id)) continue;
      bump(stats.userIdsAsked, id);
      const reel = population.reel(id, nowS);
      if (!reel) continue;
      if (population.malformedReel(id) || chance(settings.malformedReelRate)) {
        stats.faults.malformedReels++;
        reels[id] = corrupt(reel);
      } else {
        reels[id] = reel;
      }
    }
    return c.json({ reels, status: 'ok' });
  });

  app.notFound((c) => c.json({ message: 'Page not found', status: 'fail' }, 404));

  function applySettings(next: SimulatorSettings): void {
    const rateChanged = next.ratePerSecond !== settings.ratePerSecond || next.burst !== settings.burst;
    settings = next;
    population = new Population(settings);
    if (rateChanged) limiter.clear();
  }

  function reset(): void {
    Object.assign(stats, emptyStats());
    seenSockets = new WeakSet();
    limiter.clear();
  }

  return {
    app,
    stats,
    reset,
    setOptions(partial) {
      const { random: r, now: n, ...rest } = partial;
      if (r) random = r;
      if (n) now = n;
      applySettings(simulatorSettingsSchema.parse({ ...settings, ...rest }));
    },
    get settings() {
      return settings;
    },
    get population() {
      return population;
    },
  };
}

export interface StartSimulatorOptions extends SimulatorOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
}

export interface RunningSimulator {
  url: string;
  port: number;
  stats: SimulatorStats;
  simulator: Simulator;
  setOptions(partial: SimulatorOptions): void;
  reset(): void;
  close(): Promise<void>;
}

/** Serves a simulator over HTTP (what proxies and the story client talk to). */
export async function startSimulator(options: StartSimulatorOptions = {}): Promise<RunningSimulator> {
  const { host = '127.0.0.1', port = 0, ...rest } = options;
  const simulator = createSimulator(rest);
  const server = await new Promise<http.Server>((resolve, reject) => {
    const s = serve({ fetch: simulator.app.fetch, port, hostname: host }, () => resolve(s as http.Server));
    s.once('error', reject);
  });
  const actualPort = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${actualPort}`,
    port: actualPort,
    stats: simulator.stats,
    simulator,
    setOptions: (partial) => simulator.setOptions(partial),
    reset: () => simulator.reset(),
    // idempotent: a test that stops the source to simulate an outage may close it before its owner does
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive connections (proxy tunnels) would otherwise hold the server open.
        server.closeAllConnections();
      }),
  };
}
