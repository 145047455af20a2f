/**
 * The ways a call to the story source can fail (UPSTREAM.md, "Failures"), as typed errors.
 *
 * `kind` is the discriminator callers switch on; `name` is the class name (what a Temporal
 * ApplicationFailure type or a log shows). `retryable` says whether another attempt, possibly through
 * another proxy or with another session, can succeed: only a missing profile and a request the source will
 * always refuse are final.
 *
 * Every message passes through `redact`: a proxy password or a session token must never reach a log line,
 * an API answer or a workflow history through an error.
 */
import { storableText } from '../storable-text.js';
import { redact } from '../redact.js';

/** An error message quotes at most this much of an answer. */
const MAX_MESSAGE_LENGTH = 500;

export type UpstreamFailureKind =
  | 'rate_limited'
  | 'profile_not_found'
  | 'session_invalid'
  | 'proxy_failure'
  | 'upstream_unreachable'
  | 'upstream_error'
  | 'malformed_response';

export interface UpstreamFailureDetails {
  /** HTTP status of the answer that failed, when there was one (the proxy's 407 included). */
  status?: number;
  /** Low-level error code (ECONNREFUSED, UND_ERR_SOCKET, ...), when the failure was a transport one. */
  code?: string;
}

export abstract class UpstreamFailure extends Error {
  abstract readonly kind: UpstreamFailureKind;
  abstract readonly retryable: boolean;
  readonly status?: number;
  readonly code?: string;

  constructor(message: string, details: UpstreamFailureDetails = {}) {
    // the message quotes what the source answered: it must be storable as Postgres text as it is
    super(storableText(redact(message), MAX_MESSAGE_LENGTH));
    if (details.status !== undefined) this.status = details.status;
    if (details.code !== undefined) this.code = details.code;
  }
}

/** 429 or the "Please wait a few minutes" body: this proxy must rest, `retryAfterMs` when the source says how long. */
export class RateLimited extends UpstreamFailure {
  override name = 'RateLimited';
  readonly kind = 'rate_limited' as const;
  readonly retryable = true;
  readonly retryAfterMs?: number;

  constructor(message: string, details: UpstreamFailureDetails & { retryAfterMs?: number } = {}) {
    super(message, details);
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
  }
}

/** The username does not exist upstream: permanent, never retried. */
export class ProfileNotFound extends UpstreamFailure {
  override name = 'ProfileNotFound';
  readonly kind = 'profile_not_found' as const;
  readonly retryable = false;
}

/** 401/403 login_required or checkpoint_required: the session is spent; another session may succeed. */
export class SessionInvalid extends UpstreamFailure {
  override name = 'SessionInvalid';
  readonly kind = 'session_invalid' as const;
  readonly retryable = true;
}

/** The proxy refused the connection, answered 407, or could not open the tunnel: the proxy is at fault. */
export class ProxyFailure extends UpstreamFailure {
  override name = 'ProxyFailure';
  readonly kind = 'proxy_failure' as const;
  readonly retryable = true;
}

/**
 * The proxy answered the CONNECT with a 5xx (tinyproxy 500, others 502/503/504): it works, but cannot reach the
 * upstream. An outage of the source, not a fault of the proxy (nor of any profile).
 */
export class UpstreamUnreachable extends UpstreamFailure {
  override name = 'UpstreamUnreachable';
  readonly kind = 'upstream_unreachable' as const;
  readonly retryable = true;
}

/** 5xx, timeout, reset connection (retryable), or a 4xx the source will refuse again (not retryable). */
export class UpstreamError extends UpstreamFailure {
  override name = 'UpstreamError';
  readonly kind = 'upstream_error' as const;
  readonly retryable: boolean;

  constructor(message: string, details: UpstreamFailureDetails & { retryable?: boolean } = {}) {
    super(message, details);
    this.retryable = details.retryable ?? true;
  }
}

/** A 200 whose body does not have the documented structure: never a success. */
export class MalformedResponse extends UpstreamFailure {
  override name = 'MalformedResponse';
  readonly kind = 'malformed_response' as const;
  readonly retryable = true;
}

export type AnyUpstreamFailure =
  | RateLimited
  | ProfileNotFound
  | SessionInvalid
  | ProxyFailure
  | UpstreamUnreachable
  | UpstreamError
  | MalformedResponse;

/**
 * `Retry-After` as milliseconds: delay-seconds (what the source sends) or an HTTP date. Absent or
 * unreadable → undefined, so the caller falls back to its own cooldown.
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return undefined;
  if (/^\d+$/.test(raw)) return Number(raw) * 1000;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const RATE_LIMIT_MESSAGE = /please wait a few minutes/i;
const SESSION_MESSAGES = new Set(['login_required', 'checkpoint_required']);

/** The `message` of a JSON failure body, if the body is one. */
export function failMessage(body: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object' && 'message' in parsed && typeof parsed.message === 'string') {
      return parsed.message;
    }
  } catch {
    // not JSON: no message
  }
  return undefined;
}

export interface AnswerToClassify {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Which call it answers, for the message and for 404 (a missing profile on the lookup only). */
  endpoint: 'web_profile_info' | 'reels_media';
}

/**
 * Turns an answer into the failure it means, or `null` when it is a success to parse (a 200 that is not a
 * rate-limit body). The rate-limit body is recognised at any status, 200 included, since the source has used
 * several.
 */
export function classifyAnswer(answer: AnswerToClassify, now = Date.now()): AnyUpstreamFailure | null {
  const { status, headers, body, endpoint } = answer;
  const message = failMessage(body);
  const where = `${endpoint} answered ${status}`;

  if (status === 429 || (message !== undefined && RATE_LIMIT_MESSAGE.test(message))) {
    const retryAfterMs = parseRetryAfter(headers['retry-after'], now);
    return new RateLimited(`rate limited: ${where}${retryAfterMs !== undefined ? `, retry after ${retryAfterMs} ms` : ''}`, {
      status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (status >= 200 && status < 300) return null;
  // 401 means unauthenticated whatever the body says; a 403 only with the session messages (it is also
  // what a blocked request looks like).
  if (status === 401 || (status === 403 && message !== undefined && SESSION_MESSAGES.has(message))) {
    return new SessionInvalid(`session invalid: ${where}${message ? ` (${message})` : ''}`, { status });
  }
  if (status === 404 && endpoint === 'web_profile_info') {
    return new ProfileNotFound(`profile not found: ${where}`, { status });
  }
  if (status >= 500) return new UpstreamError(`upstream error: ${where}`, { status });
  // 408 and 425 are "try again"; any other 4xx would be refused again as is.
  const retryable = status === 408 || status === 425;
  return new UpstreamError(`upstream refused the request: ${where}${message ? ` (${message})` : ''}`, { status, retryable });
}
