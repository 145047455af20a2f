/**
 * The client of the story source (docs/upstream.md): username → user id, and the active stories of up to 50 user
 * ids in one request, always through the leased proxy and with the leased session.
 *
 * One undici ProxyAgent per proxy, cached and kept alive, so consecutive checks through a proxy reuse its
 * tunnels instead of paying a CONNECT (and a fresh client address slot) each time. Every failure comes out as
 * one of the typed errors of ./errors.ts; a caller's abort comes out as the abort reason, untouched.
 */
import { performance } from 'node:perf_hooks';
import { ProxyAgent, request, type Dispatcher, type Pool } from 'undici';
import type { Config } from '../config.js';
import type { Logger } from '../logging/logger.js';
import { countRateLimited, observeUpstreamRequest, type UpstreamEndpoint } from '../metrics/worker.js';
import { registerSecret } from '../logging/redact.js';
import { classifyAnswer, SessionInvalid, UpstreamError, UpstreamFailure } from './errors.js';
import { parseProfileBody, parseStoriesBody, type Endpoint, type StoryResult } from './answer-bodies.js';
import { classifyTransportError, TunnelPool } from './proxy-tunnel.js';
import { isSendableToken, SENDABLE_TOKEN_RULE } from './session-token.js';

export { parseProfileBody, parseStoriesBody, type SeenStoryItem, type StoryResult } from './answer-bodies.js';
export { classifyTransportError, ProxyTunnelError } from './proxy-tunnel.js';

/**
 * The most of an answer read: 50 reels of a busy profile are a few hundred kB. A larger body is not an answer the
 * contract describes, and reading it whole would let one misbehaving source exhaust a worker's memory.
 */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** Reads a body up to `max` bytes; a longer one throws (its connection is dropped). */
async function readCapped(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      throw new AnswerTooLarge(max);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The request, ended by `signal` whatever stage it is at: undici applies an abort only once the request is
 * connected, so a proxy that accepts the connection and never answers the CONNECT would hold it for ever.
 */
function abortable<T>(pending: Promise<T>, signal: AbortSignal): Promise<T> {
  pending.catch(() => {}); // it may still fail after the abort has ended the wait
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

class AnswerTooLarge extends Error {
  override name = 'AnswerTooLarge';
  constructor(readonly max: number) {
    super(`the answer is larger than ${max} bytes`);
  }
}

/** Where a call goes out: the leased proxy (credentials apart from the URL) and the leased session, if any. */
export interface UpstreamTarget {
  proxyId: string;
  /** `http://host:port`, without credentials. */
  proxyUrl: string;
  proxyUsername?: string | null;
  proxyPassword?: string | null;
  sessionToken?: string | null;
}

export interface ResolvedUser {
  userId: string;
  isPrivate: boolean;
  durationMs: number;
}

export interface StoriesAnswer {
  durationMs: number;
  /** The moment the answer was judged by (what is live, what has expired). */
  checkedAt: Date;
  /** One entry per distinct requested id. */
  results: Map<string, StoryResult>;
}

export interface StoryClientOptions {
  baseUrl: string;
  appId: string;
  userAgent: string;
  /** Whole-call deadline (tunnel, headers and body), and undici's headers/body timeouts. */
  timeoutMs: number;
  logger?: Logger;
  /** Open connections kept per proxy (each is one tunnel, one slot at the source). */
  connectionsPerProxy?: number;
  /** The most of one answer read (MAX_ANSWER_BYTES). */
  maxAnswerBytes?: number;
}

/** docs/upstream.md: the stories endpoint takes 1 to 50 ids. */
export const MAX_IDS_PER_REQUEST = 50;

/** How the metrics name each endpoint: by what it does. */
const METRIC_ENDPOINT: Record<Endpoint, UpstreamEndpoint> = { web_profile_info: 'user_lookup', reels_media: 'stories' };

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  durationMs: number;
}

export class StoryClient {
  readonly #base: URL;
  readonly #appId: string;
  readonly #userAgent: string;
  readonly #timeoutMs: number;
  readonly #logger: Logger | undefined;
  readonly #connectionsPerProxy: number;
  readonly #maxAnswerBytes: number;
  /** Per proxy id: the agent and the identity (URL and credentials) it was built for. */
  readonly #agents = new Map<string, { identity: string; agent: ProxyAgent }>();

  constructor(options: StoryClientOptions) {
    // A trailing slash keeps a base path (http://host/prefix) when joining the endpoint paths.
    this.#base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
    this.#maxAnswerBytes = options.maxAnswerBytes ?? MAX_ANSWER_BYTES;
    this.#appId = options.appId;
    this.#userAgent = options.userAgent;
    this.#timeoutMs = options.timeoutMs;
    this.#logger = options.logger;
    this.#connectionsPerProxy = options.connectionsPerProxy ?? 8;
  }

  static fromConfig(
    config: Pick<Config, 'STORY_API_BASE_URL' | 'UPSTREAM_APP_ID' | 'UPSTREAM_USER_AGENT' | 'CHECK_TIMEOUT_MS'>,
    logger?: Logger,
  ): StoryClient {
    return new StoryClient({
      baseUrl: config.STORY_API_BASE_URL,
      appId: config.UPSTREAM_APP_ID,
      userAgent: config.UPSTREAM_USER_AGENT,
      timeoutMs: config.CHECK_TIMEOUT_MS,
      ...(logger ? { logger } : {}),
    });
  }

  /** Username → user id. A 404 or `"user": null` is ProfileNotFound (permanent). */
  async resolveUserId(target: UpstreamTarget, username: string, signal?: AbortSignal): Promise<ResolvedUser> {
    if (!username) throw new RangeError('username must not be empty');
    const url = new URL('api/v1/users/web_profile_info/', this.#base);
    url.searchParams.set('username', username);
    const answer = await this.#get(target, 'web_profile_info', url, signal);
    const { durationMs } = answer;
    const user = this.#check(target, 'web_profile_info', answer, () => parseProfileBody(answer.body, username));
    return { userId: user.userId, isPrivate: user.isPrivate, durationMs };
  }

  /**
   * The active stories of 1..50 user ids in ONE request. An id absent from the answer has no story (a
   * success); a corrupt reel fails only its own id, as `{ ok: false }` in the results.
   */
  async fetchStories(
    target: UpstreamTarget,
    userIds: string[],
    signal?: AbortSignal,
    now = Date.now(),
  ): Promise<StoriesAnswer> {
    const ids = [...new Set(userIds)];
    if (ids.length === 0 || ids.length > MAX_IDS_PER_REQUEST) {
      throw new RangeError(`fetchStories takes 1 to ${MAX_IDS_PER_REQUEST} user ids, got ${ids.length}`);
    }
    const bad = ids.find((id) => !/^\d+$/.test(id));
    if (bad !== undefined) throw new RangeError(`user ids are digit strings, got ${JSON.stringify(bad)}`);

    const url = new URL('api/v1/feed/reels_media/', this.#base);
    for (const id of ids) url.searchParams.append('reel_ids', id);
    const answer = await this.#get(target, 'reels_media', url, signal);
    const results = this.#check(target, 'reels_media', answer, () => parseStoriesBody(answer.body, ids, now));
    return { durationMs: answer.durationMs, checkedAt: new Date(now), results };
  }

  /** Drops the agent (and its open tunnels) of one proxy, e.g. when the pool disables it. */
  async closeProxy(proxyId: string): Promise<void> {
    const entry = this.#agents.get(proxyId);
    if (!entry) return;
    this.#agents.delete(proxyId);
    await entry.agent.destroy();
  }

  async close(): Promise<void> {
    const entries = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(entries.map((e) => e.agent.destroy()));
  }

  /** Classifies the answer, then parses it; logs the outcome without secrets. */
  #check<T>(target: UpstreamTarget, endpoint: Endpoint, answer: Answer, parse: () => T): T {
    const failure = classifyAnswer({ ...answer, endpoint });
    if (failure?.kind === 'rate_limited') countRateLimited(target.proxyUrl);
    if (failure) throw this.#failed(target, endpoint, failure, answer.durationMs);
    try {
      const value = parse();
      this.#logger?.debug('upstream answered', {
        proxyId: target.proxyId,
        endpoint,
        status: answer.status,
        durationMs: answer.durationMs,
      });
      return value;
    } catch (err) {
      if (err instanceof UpstreamFailure) throw this.#failed(target, endpoint, err, answer.durationMs);
      throw err;
    }
  }

  #failed<E extends UpstreamFailure>(target: UpstreamTarget, endpoint: Endpoint, err: E, durationMs?: number): E {
    this.#logger?.debug('upstream call failed', { proxyId: target.proxyId, endpoint, kind: err.kind, durationMs, err });
    return err;
  }

  async #get(target: UpstreamTarget, endpoint: Endpoint, url: URL, signal?: AbortSignal): Promise<Answer> {
    signal?.throwIfAborted();
    const agent = this.#agentFor(target);
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.#userAgent,
      'x-ig-app-id': this.#appId,
    };
    if (target.sessionToken) {
      registerSecret(target.sessionToken);
      // refused before anything is sent: the session's fault, never the profiles' (registered before the API checked)
      if (!isSendableToken(target.sessionToken)) {
        throw this.#failed(target, endpoint, new SessionInvalid(`${endpoint}: the session token cannot be sent (${SENDABLE_TOKEN_RULE})`, { refusal: 'unsendable' }));
      }
      headers.cookie = `sessionid=${target.sessionToken}`;
    }
    // One deadline for the whole call: undici's own timeouts do not cover the CONNECT step.
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    const started = performance.now();
    try {
      const res = await abortable(
        request(url, {
          method: 'GET',
          dispatcher: agent,
          headers,
          signal: combined,
          headersTimeout: this.#timeoutMs,
          bodyTimeout: this.#timeoutMs,
        }),
        combined,
      );
      const body = await readCapped(res.body, this.#maxAnswerBytes);
      const elapsedMs = performance.now() - started;
      observeUpstreamRequest(METRIC_ENDPOINT[endpoint], res.statusCode, elapsedMs / 1000);
      return { status: res.statusCode, headers: res.headers, body, durationMs: Math.round(elapsedMs) };
    } catch (err) {
      const elapsedMs = performance.now() - started;
      const status = signal?.aborted ? 'aborted' : deadline.aborted ? 'timeout' : 'error';
      observeUpstreamRequest(METRIC_ENDPOINT[endpoint], status, elapsedMs / 1000);
      if (signal?.aborted) throw signal.reason;
      const durationMs = Math.round(elapsedMs);
      const failure = deadline.aborted
        ? new UpstreamError(`${endpoint} timed out after ${this.#timeoutMs} ms`, { code: 'TIMEOUT' })
        : err instanceof AnswerTooLarge
          ? new UpstreamError(`${endpoint}: ${err.message}`, { code: 'ANSWER_TOO_LARGE' })
          : classifyTransportError(err, endpoint);
      throw this.#failed(target, endpoint, failure, durationMs);
    }
  }

  #agentFor(target: UpstreamTarget): ProxyAgent {
    const username = target.proxyUsername ?? null;
    const password = target.proxyPassword ?? null;
    registerSecret(password);
    const identity = JSON.stringify([target.proxyUrl, username, password]);
    const cached = this.#agents.get(target.proxyId);
    if (cached?.identity === identity) return cached.agent;
    // New URL or credentials: calls already under way finish on the old agent, then it closes.
    if (cached) void cached.agent.close().catch(() => {});

    const agent = new ProxyAgent({
      uri: target.proxyUrl,
      ...(username !== null ? { token: `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` } : {}),
      connections: this.#connectionsPerProxy,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      clientFactory: (origin, opts) => new TunnelPool(origin, opts as Pool.Options),
    });
    this.#agents.set(target.proxyId, { identity, agent });
    return agent;
  }
}
