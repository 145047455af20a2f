/**
 * Everything the source does to a request before answering it: count it, refuse a flagged address or one
 * over its pace, wait its latency, check the app id and the session, and fail it on purpose (5xx bursts,
 * resets, errors, slow answers), in the order a real one does.
 *
 * Rate limits are per client address, read from the socket: requests through a proxy arrive from the proxy's
 * address, so each proxy is limited on its own.
 */
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HttpBindings } from '@hono/node-server';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { SimEnv } from './malformed.js';
import { rateLimitedAnswer } from './rate-limits.js';
import { isFlagged } from './realistic.js';
import type { SimState } from './state.js';
import { bump } from './stats.js';

interface ArrivedRequest {
  address: string;
  endpoint: string;
  /** The `sessionid` cookie; undefined when logged out. */
  token: string | undefined;
}

function endpointOf(path: string): string {
  if (/^\/api\/v1\/users\/web_profile_info\/?$/.test(path)) return 'web_profile_info';
  if (/^\/api\/v1\/feed\/reels_media\/?$/.test(path)) return 'reels_media';
  return 'other';
}

/** The socket behind a request; absent when the app is called in-process (`app.request`). */
function socketOf(c: Context<SimEnv>): Socket | undefined {
  return (c.env as Partial<HttpBindings> | undefined)?.incoming?.socket;
}

function addressOf(socket: Socket | undefined): string {
  const address = socket?.remoteAddress ?? 'in-process';
  // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

function count(state: SimState, request: ArrivedRequest, socket: Socket | undefined): void {
  const { stats, settings } = state;
  stats.requests++;
  bump(stats.byEndpoint, request.endpoint);
  bump(stats.byClientAddress, request.address);
  if (socket && state.firstSeen(socket)) {
    stats.connections++;
    bump(stats.connectionsByClientAddress, request.address);
  }
  if (request.token !== undefined && state.checkpoints.count(request.token, settings.checkpointAfter)) stats.checkpointedSessions++;
}

/** What is decided as the request arrives, before the latency: the address's refusals. */
function refuseOnArrival(c: Context<SimEnv>, state: SimState, request: ArrivedRequest): Response | null {
  const { stats, settings } = state;
  if (isFlagged(request.address, settings)) {
    stats.blocked++;
    bump(stats.blockedByClientAddress, request.address);
    return c.json({ message: 'Forbidden', status: 'fail' }, 403);
  }
  const limited = state.rateLimits.check(request.address, request.token === undefined, settings, state.now(), (share) => state.chance(share));
  if (!limited) return null;
  stats.rateLimited++;
  stats.rateLimitedBy[limited.cause]++;
  bump(stats.rateLimitedByClientAddress, request.address);
  return rateLimitedAnswer(c, settings, limited);
}

/** The login page the source sends a logged-out request to, with the way back. */
function loginRedirect(c: Context<SimEnv>): Response {
  const url = new URL(c.req.url);
  const back = encodeURIComponent(`${url.pathname}${url.search}`);
  return c.body(null, 302, { Location: `https://${url.host}/accounts/login/?next=${back}` });
}

/** The app id and the session: who asks. */
function refuseCaller(c: Context<SimEnv>, state: SimState, request: ArrivedRequest): Response | null {
  const { stats, settings } = state;
  const { token } = request;
  if (settings.appId !== null && c.req.header('x-ig-app-id') !== settings.appId) {
    return c.json({ message: 'useragent mismatch', status: 'fail' }, 400);
  }
  if (token !== undefined && (settings.checkpointSessions.includes(token) || state.checkpoints.has(token))) {
    stats.checkpoints++;
    return c.json({ message: 'checkpoint_required', status: 'fail' }, settings.checkpointStatus);
  }
  const loginRequired = { message: 'login_required', require_login: true, status: 'fail' } as const;
  if ((token !== undefined && settings.invalidSessions.includes(token)) || (settings.requireSession && token === undefined)) {
    return c.json(loginRequired, 401);
  }
  if (token === undefined && request.endpoint === 'reels_media' && settings.loggedOutReels !== 'answer') {
    if (settings.loggedOutReels === 'login_required') return c.json(loginRequired, 401);
    stats.redirects++;
    return loginRedirect(c);
  }
  return null;
}

/** A burst of 5xx in progress, or one this request starts. */
function burstAnswer(c: Context<SimEnv>, state: SimState): Response | null {
  const burst = state.bursts.next(state.settings, state.now(), state.random);
  if (!burst) return null;
  if (burst.started) state.stats.errorBursts.started++;
  state.stats.errorBursts.answers++;
  const message = burst.status === 500 ? 'Internal server error' : burst.status === 502 ? 'Bad gateway' : 'Service unavailable';
  return c.json({ message, status: 'fail' }, burst.status);
}

export function sourceGate(state: SimState): MiddlewareHandler<SimEnv> {
  return async (c, next) => {
    const socket = socketOf(c);
    const request: ArrivedRequest = {
      address: addressOf(socket),
      endpoint: endpointOf(c.req.path),
      // an empty cookie is no session
      token: getCookie(c, 'sessionid') || undefined,
    };
    count(state, request, socket);
    const refusal = refuseOnArrival(c, state, request);
    const { settings, stats } = state;
    const delay = settings.latencyMs + (settings.jitterMs > 0 ? Math.floor(state.random() * (settings.jitterMs + 1)) : 0);
    if (delay > 0) await sleep(delay);

    const answer = refusal ?? refuseCaller(c, state, request) ?? burstAnswer(c, state);
    if (answer) {
      bump(stats.byStatus, String(answer.status));
      return answer;
    }
    if (state.chance(settings.resetRate)) {
      stats.faults.resets++;
      bump(stats.byStatus, 'reset');
      socket?.destroy();
      // Nothing reaches the client; this answer only ends the handler.
      return new Response(null, { status: 500 });
    }
    if (state.chance(settings.errorRate)) {
      stats.faults.errors++;
      bump(stats.byStatus, '500');
      return c.json({ message: 'Internal server error', status: 'fail' }, 500);
    }
    if (state.chance(settings.slowRate)) {
      stats.faults.slow++;
      await sleep(settings.slowMs);
    }
    await next();
    bump(stats.byStatus, String(c.res.status));
  };
}
