/**
 * What one failed upstream request means, as one table: who it is charged to, whether it counts as a try of
 * the profiles it asked about, what the proxy's release records, and what happens to those profiles next.
 * Pure: no I/O, so every row is unit-tested without a database. Nothing else decides retryability.
 *
 * Every answer has exactly one owner (docs/upstream.md, "Who is charged for what"):
 * - the profile, only for its own answers: the lookup's 404 (or `user: null`, which the client reads as a
 *   missing profile) is final; a malformed reel of its own counts a try, so repeated ones end it (the checker);
 * - the session, for a login redirect, `login_required` or a checkpoint: never the profiles' fault, the request
 *   goes on with another session (without a session, it waits for one);
 * - the proxy, for a refused or reset connection, a 407, or a 403 that follows its address: it rests or is
 *   disabled, and the request goes on through another proxy;
 * - the pace, for a 429: the proxy rests, the request goes on through another proxy;
 * - the upstream, for a 5xx, a timeout, a malformed body or any other unexpected answer: retried later with backoff, never final
 *   on first sight. Those tries count against the profiles' CHECK_MAX_ATTEMPTS, so a source that keeps
 *   failing one request cannot keep a batch running for ever.
 */
import type { ReleaseOutcome } from '../pool/pool.js';
import type { UpstreamFailure } from '../upstream/errors.js';
import { RateLimited, SessionInvalid } from '../upstream/errors.js';

/** Who a failed answer is charged to. */
export type FailureOwner = 'profile' | 'session' | 'proxy' | 'pace' | 'upstream';

/** What happens to the profiles of the failed request. */
export type NextStep =
  /** Send the same request again now, through another proxy or session (within the same attempt). */
  | 'retry_elsewhere'
  /** Leave them for a later attempt of the chunk, after the backoff of their counted tries. */
  | 'retry_later'
  /** Final: record them failed now, never asked again. */
  | 'fail'
  /** Nothing can be sent for now (no valid session): the chunk waits, and the batch may show a stall. */
  | 'wait';

export interface FailurePolicy {
  owner: FailureOwner;
  /** The failure counts as one of the CHECK_MAX_ATTEMPTS tries of the profiles in the request. */
  countsAttempt: boolean;
  /** What the lease's release records on the proxy (and session). */
  release: ReleaseOutcome;
  next: NextStep;
}

export interface FailureContext {
  /** Whether the request carried a session (a refusal then blames the session, not the profile). */
  hadSession: boolean;
}

export function failurePolicy(err: UpstreamFailure, context: FailureContext): FailurePolicy {
  switch (err.kind) {
    case 'rate_limited':
      return {
        owner: 'pace',
        countsAttempt: false,
        release: { kind: 'rate_limited', ...(err instanceof RateLimited && err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) },
        next: 'retry_elsewhere',
      };
    case 'proxy_failure':
      return { owner: 'proxy', countsAttempt: false, release: { kind: 'proxy_failure', message: err.message }, next: 'retry_elsewhere' };
    case 'address_blocked':
      return { owner: 'proxy', countsAttempt: false, release: { kind: 'address_blocked', message: err.message }, next: 'retry_elsewhere' };
    case 'upstream_unreachable':
      return { owner: 'upstream', countsAttempt: false, release: { kind: 'upstream_unreachable', message: err.message }, next: 'retry_elsewhere' };
    case 'session_invalid': {
      const refusal = err instanceof SessionInvalid ? err.refusal : 'login';
      // with a session, that session is refused and another may work; without one the source wants a login
      // that the pool cannot give now: wait for a valid session instead of failing profiles that are fine
      return context.hadSession
        ? { owner: 'session', countsAttempt: false, release: { kind: 'session_invalid', message: err.message, refusal }, next: 'retry_elsewhere' }
        : { owner: 'session', countsAttempt: false, release: { kind: 'neutral' }, next: 'wait' };
    }
    case 'profile_not_found':
      // an answer: the proxy did its job
      return { owner: 'profile', countsAttempt: true, release: { kind: 'success' }, next: 'fail' };
    case 'malformed_response':
    case 'upstream_error':
      // a body that is not what the contract says (a corrupt reel alone is the profile's: src/check/checker.ts)
      return { owner: 'upstream', countsAttempt: true, release: { kind: 'neutral' }, next: 'retry_later' };
  }
}

/** Backoff before a later attempt, from the profiles' counted tries (not from Temporal's activity attempt). */
export function backoffMs(tries: number, retry: { initialMs: number; maxMs: number; coefficient: number }): number {
  const n = Math.max(0, tries - 1);
  return Math.min(retry.maxMs, Math.round(retry.initialMs * retry.coefficient ** n));
}
