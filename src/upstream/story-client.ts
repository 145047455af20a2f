/**
 * The client of the story source (docs/upstream.md): username → user id, and the active stories of up to 50 user
 * ids in one request, always through the leased proxy and with the leased session.
 *
 * One undici ProxyAgent per proxy, cached and kept alive, so consecutive checks through a proxy reuse its
 * tunnels instead of paying a CONNECT (and a fresh client address slot) each time. Every failure comes out as
 * one of the typed errors of ./errors.ts; a caller's abort comes out as the abort reason, untouched.
 */
import { performance } from 'node:perf_hooks';
import { Pool, ProxyAgent, request, type Dispatcher } from 'undici';
import type { Config } from '../config.js';
import type { Logger } from '../logging/logger.js';
import { countRateLimited, observeUpstreamRequest, type UpstreamEndpoint } from '../metrics/worker.js';
import { registerSecret } from '../logging/redact.js';
import {
  classifyAnswer,
  MalformedResponse,
  ProfileNotFound,
  ProxyFailure,
  SessionInvalid,
  UpstreamError,
  UpstreamFailure,
  UpstreamUnreachable,
  type AnyUpstreamFailure,
} from './errors.js';
import { describeIssues, parseReel, reelsMediaEnvelopeSchema, webProfileInfoSchema } from './schemas.js';
import { isSendableToken, SENDABLE_TOKEN_RULE } from './session-token.js';

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

export type StoryResult =
  | { ok: true; hasStory: boolean; storyCount: number; latestStoryAt: Date | null }
  | { ok: false; error: MalformedResponse };

export interface ResolvedUser {
  userId: string;
  isPrivate: boolean;
  durationMs: number;
}

export interface StoriesAnswer {
  durationMs: number;
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

type Endpoint = 'web_profile_info' | 'reels_media';

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
    return { durationMs: answer.durationMs, results };
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

/** Parses a 200 of web_profile_info. */
export function parseProfileBody(body: string, username: string): { userId: string; isPrivate: boolean } {
  const parsed = webProfileInfoSchema.safeParse(parseJson(body, 'web_profile_info'));
  if (!parsed.success) {
    throw new MalformedResponse(`web_profile_info: unexpected body (${describeIssues(parsed.error)})`);
  }
  const { user } = parsed.data.data;
  if (user === null) throw new ProfileNotFound('profile not found: web_profile_info answered user null', { status: 200 });
  if (user.username.toLowerCase() !== username.toLowerCase()) {
    throw new MalformedResponse('web_profile_info: answered for another username');
  }
  return { userId: user.id, isPrivate: user.is_private };
}

/**
 * Parses a 200 of reels_media for the requested ids. A story is active when its `expiring_at` is after
 * `now`; `latestStoryAt` is the newest active story's `taken_at`.
 */
export function parseStoriesBody(body: string, userIds: string[], now: number): Map<string, StoryResult> {
  const envelope = reelsMediaEnvelopeSchema.safeParse(parseJson(body, 'reels_media'));
  if (!envelope.success) {
    throw new MalformedResponse(`reels_media: unexpected body (${describeIssues(envelope.error)})`);
  }
  const { reels } = envelope.data;
  const results = new Map<string, StoryResult>();
  for (const id of userIds) {
    const raw = Object.hasOwn(reels, id) ? reels[id] : undefined;
    if (raw === undefined || raw === null) {
      results.set(id, { ok: true, hasStory: false, storyCount: 0, latestStoryAt: null });
      continue;
    }
    const reel = parseReel(id, raw);
    if (!reel.ok) {
      results.set(id, { ok: false, error: new MalformedResponse(`reels_media: malformed reel for ${id} (${reel.problem})`) });
      continue;
    }
    const live = reel.reel.items.filter((item) => item.expiring_at * 1000 > now);
    const latest = live.reduce((max, item) => Math.max(max, item.taken_at), -1);
    results.set(id, {
      ok: true,
      hasStory: live.length > 0,
      storyCount: live.length,
      latestStoryAt: latest >= 0 ? new Date(latest * 1000) : null,
    });
  }
  return results;
}

function parseJson(body: string, endpoint: Endpoint): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new MalformedResponse(`${endpoint}: body is not JSON`);
  }
}

/**
 * A failure of the CONNECT step: the proxy refused the connection, answered other than 200 (407 when the
 * credentials are wrong), or closed the tunnel before opening it.
 */
export class ProxyTunnelError extends Error {
  override name = 'ProxyTunnelError';
  readonly code = 'STORYCHECK_PROXY_TUNNEL';

  constructor(
    message: string,
    readonly statusCode?: number,
    readonly causeCode?: string,
  ) {
    super(message);
  }
}

/**
 * The pool ProxyAgent sends its CONNECTs through. Wrapping its failures does two things: it tells a proxy
 * fault apart from a reset of an established tunnel (both are "other side closed" to undici), and it stops
 * a loop: undici treats a connect error coded UND_ERR_SOCKET as recoverable and would reconnect forever
 * when a proxy keeps closing the tunnel (seen with a proxy whose target is unreachable).
 */
class TunnelPool extends Pool {
  override connect(options: PoolConnectOptions): Promise<Dispatcher.ConnectData>;
  override connect(options: PoolConnectOptions, callback: (err: Error | null, data: Dispatcher.ConnectData) => void): void;
  override connect(
    options: PoolConnectOptions,
    callback?: (err: Error | null, data: Dispatcher.ConnectData) => void,
  ): Promise<Dispatcher.ConnectData> | void {
    if (callback) return super.connect(options, callback);
    return super.connect(options).then(
      (data) => {
        if (data.statusCode === 200) return data;
        data.socket.on('error', () => {}).destroy();
        throw new ProxyTunnelError(`proxy answered ${data.statusCode} to CONNECT`, data.statusCode);
      },
      (err: unknown) => {
        const { code, message } = errorFields(err);
        throw new ProxyTunnelError(`proxy connection failed: ${message}`, undefined, code);
      },
    );
  }
}
type PoolConnectOptions = Omit<Dispatcher.ConnectOptions, 'origin'>;

function errorFields(err: unknown): { code?: string; message: string } {
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return { ...(typeof code === 'string' ? { code } : {}), message: err.message };
  }
  return { message: String(err) };
}

/** Codes of a failed direct connection: through a proxy, the only host connected to directly is the proxy. */
const PROXY_CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const RESET_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED']);

/** Turns a thrown transport error (no answer at all) into the failure it means. */
export function classifyTransportError(err: unknown, endpoint: string): AnyUpstreamFailure {
  if (err instanceof ProxyTunnelError) {
    if (err.statusCode === 407) {
      return new ProxyFailure(`${endpoint}: proxy authentication required (407)`, { status: 407, code: err.code });
    }
    if (err.statusCode !== undefined && err.statusCode >= 500) {
      return new UpstreamUnreachable(`${endpoint}: the proxy cannot reach the upstream (${err.statusCode})`, {
        status: err.statusCode,
        code: err.code,
      });
    }
    if (err.statusCode !== undefined) {
      return new ProxyFailure(`${endpoint}: proxy refused the tunnel (${err.statusCode})`, { status: err.statusCode, code: err.code });
    }
    return new ProxyFailure(`${endpoint}: ${err.message}`, { code: err.causeCode ?? err.code });
  }
  const { code, message } = errorFields(err);
  const details = code ? { code } : {};
  if (code && PROXY_CONNECT_CODES.has(code)) return new ProxyFailure(`${endpoint}: proxy unreachable: ${message}`, details);
  // Only ProxyAgent's own tunnel check raises this message (when the CONNECT was not through TunnelPool).
  if (code === 'UND_ERR_ABORTED' && /proxy response/i.test(message)) {
    const status = Number(/\((\d{3})\)/.exec(message)?.[1]);
    if (status >= 500) return new UpstreamUnreachable(`${endpoint}: the proxy cannot reach the upstream: ${message}`, { ...details, status });
    return new ProxyFailure(`${endpoint}: ${message}`, { ...details, ...(status ? { status } : {}) });
  }
  if (code && TIMEOUT_CODES.has(code)) return new UpstreamError(`${endpoint} timed out: ${message}`, details);
  if (code && RESET_CODES.has(code)) return new UpstreamError(`${endpoint}: connection reset: ${message}`, details);
  return new UpstreamError(`${endpoint}: transport error: ${message}`, details);
}
