/**
 * The ways a call to the story source can fail (docs/upstream.md, "Reading an answer" and "How the real source
 * behaves"), as typed errors. What each one means for the profiles, the proxy and the session is decided in one
 * place only, src/check/failure-policy.ts; these classes only say what happened.
 *
 * `kind` is the discriminator callers switch on; `name` is the class name (what a Temporal
 * ApplicationFailure type or a log shows).
 *
 * Every message passes through `redact`: a proxy password or a session token must never reach a log line,
 * an API answer or a workflow history through an error.
 */
import { storableText } from '../db/storable-text.js';
import { redact } from '../logging/redact.js';

/** An error message quotes at most this much of an answer. */
const MAX_MESSAGE_LENGTH = 500;

export type UpstreamFailureKind =
  | 'rate_limited'
  | 'profile_not_found'
  | 'session_invalid'
  | 'address_blocked'
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
  readonly status?: number;
  readonly code?: string;

  constructor(message: string, details: UpstreamFailureDetails = {}) {
    // the message quotes what the source answered: it must be storable as Postgres text as it is
    super(storableText(redact(message), MAX_MESSAGE_LENGTH));
    if (details.status !== undefined) this.status = details.status;
    if (details.code !== undefined) this.code = details.code;
  }
}

/** The base of a failure that says no more than its kind: the name and kind are all that set it apart. */
function plainFailure<K extends UpstreamFailureKind>(name: string, kind: K) {
  return class extends UpstreamFailure {
    override name = name;
    readonly kind: K = kind;
  };
}

/** 429 or the "Please wait a few minutes" body: this proxy must rest, `retryAfterMs` when the source says how long. */
export class RateLimited extends UpstreamFailure {
  override name = 'RateLimited';
  readonly kind = 'rate_limited' as const;
  readonly retryAfterMs?: number;

  constructor(message: string, details: UpstreamFailureDetails & { retryAfterMs?: number } = {}) {
    super(message, details);
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
  }
}

/** The username does not exist upstream: permanent, never retried. */
export class ProfileNotFound extends plainFailure('ProfileNotFound', 'profile_not_found') {}

/**
 * Why the source refused the session: `login` (401 login_required, or a redirect to the login page: the
 * session is not accepted, or there was none), `checkpoint` (checkpoint_required: the account must be cleared
 * by a person), `unsendable` (the token cannot be put in a cookie header at all).
 */
export type SessionRefusal = 'login' | 'checkpoint' | 'unsendable';

/** The source wants a (different) login: a fact about the session, never about the profiles asked for. */
export class SessionInvalid extends UpstreamFailure {
  override name = 'SessionInvalid';
  readonly kind = 'session_invalid' as const;
  readonly refusal: SessionRefusal;

  constructor(message: string, details: UpstreamFailureDetails & { refusal?: SessionRefusal } = {}) {
    super(message, details);
    this.refusal = details.refusal ?? 'login';
  }
}

/** 403 without a session message: the source refuses the proxy's address, whatever is asked and whoever asks. */
export class AddressBlocked extends plainFailure('AddressBlocked', 'address_blocked') {}

/** The proxy refused the connection, answered 407, or could not open the tunnel: the proxy is at fault. */
export class ProxyFailure extends plainFailure('ProxyFailure', 'proxy_failure') {}

/**
 * The proxy answered the CONNECT with a 5xx (tinyproxy 500, others 502/503/504): it works, but cannot reach the
 * upstream. An outage of the source, not a fault of the proxy (nor of any profile).
 */
export class UpstreamUnreachable extends plainFailure('UpstreamUnreachable', 'upstream_unreachable') {}

/** 5xx, a timeout, a reset connection, or any other answer the source should not have given (an unexpected 4xx). */
export class UpstreamError extends plainFailure('UpstreamError', 'upstream_error') {}

/** A 200 whose body does not have the documented structure: never a success. */
export class MalformedResponse extends plainFailure('MalformedResponse', 'malformed_response') {}

export type AnyUpstreamFailure =
  | RateLimited
  | ProfileNotFound
  | SessionInvalid
  | AddressBlocked
  | ProxyFailure
  | UpstreamUnreachable
  | UpstreamError
  | MalformedResponse;

/**
 * `Retry-After` as milliseconds (RFC 9110 10.2.3): delay-seconds (digits only) or an HTTP-date. Anything else
 * (`-1`, `1.5`, `5, 10`, a date without its weekday's format) is unreadable → undefined, so the caller falls back
 * to its own rest instead of resting for nothing. An HTTP-date already past reads as 0.
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = (Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value)?.trim();
  if (!raw) return undefined;
  if (/^\d+$/.test(raw)) return Number(raw) * 1000;
  // an HTTP-date (IMF-fixdate, or the two obsolete forms): always starts with a weekday name
  if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /.test(raw)) return undefined;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const RATE_LIMIT_MESSAGE = /please wait a few minutes/i;
const LOGIN_MESSAGES = new Set(['login_required']);
const CHECKPOINT_MESSAGES = new Set(['checkpoint_required', 'challenge_required']);
/** Where the source sends a request it wants logged in: its login page, or a challenge to clear. */
const LOGIN_PATH = /\/(accounts\/login|challenge)\b/i;

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

const headerOf = (headers: AnswerToClassify['headers'], name: string) => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/**
 * Turns an answer into the failure it means, or `null` when it is a success to parse (a 200 that is not a
 * rate-limit body). The rate-limit body is recognised at any status, 200 included, since the source has used
 * several; so are the session messages (401, 403 and 400 have all carried them).
 */
export function classifyAnswer(answer: AnswerToClassify, now = Date.now()): AnyUpstreamFailure | null {
  const { status, headers, body, endpoint } = answer;
  const message = failMessage(body);
  const where = `${endpoint} answered ${status}`;
  const quoted = message ? ` (${message})` : '';

  if (status === 429 || (message !== undefined && RATE_LIMIT_MESSAGE.test(message))) {
    const retryAfterMs = parseRetryAfter(headers['retry-after'], now);
    return new RateLimited(`rate limited: ${where}${retryAfterMs !== undefined ? `, retry after ${retryAfterMs} ms` : ''}`, {
      status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (status >= 200 && status < 300) return null;
  if (message !== undefined && CHECKPOINT_MESSAGES.has(message)) {
    return new SessionInvalid(`session needs a checkpoint cleared: ${where}${quoted}`, { status, refusal: 'checkpoint' });
  }
  // 401 means unauthenticated whatever the body says
  if (status === 401 || (message !== undefined && LOGIN_MESSAGES.has(message))) {
    return new SessionInvalid(`session refused: ${where}${quoted}`, { status, refusal: 'login' });
  }
  if (status >= 300 && status < 400) {
    const location = headerOf(headers, 'location') ?? '';
    if (LOGIN_PATH.test(location)) {
      return new SessionInvalid(`redirected to log in: ${where}`, { status, refusal: 'login' });
    }
    return new UpstreamError(`unexpected redirect: ${where}`, { status });
  }
  // a 403 without a session message is what a blocked address gets, for every request, with or without a session
  if (status === 403) return new AddressBlocked(`address refused: ${where}${quoted}`, { status });
  if (status === 404 && endpoint === 'web_profile_info') {
    return new ProfileNotFound(`profile not found: ${where}`, { status });
  }
  if (status >= 500) return new UpstreamError(`upstream error: ${where}`, { status });
  // any other 4xx is not something the profiles asked for did: the source's, retried with backoff
  return new UpstreamError(`upstream refused the request: ${where}${quoted}`, { status });
}
