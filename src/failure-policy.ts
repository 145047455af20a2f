/**
 * What one failed upstream request means, as one table: whether it counts as a try of the profiles it asked
 * about, what the proxy's release records, and what happens to those profiles next. Pure: no I/O, so every
 * row is unit-tested without a database.
 *
 * The rule behind the table: a profile is charged only for answers about itself. Rate limits, proxy faults,
 * an unreachable upstream and a refused session say nothing about the profile, so they never count, and the
 * request goes on at once through another proxy (or session). Anything the source answered about the
 * profile counts, so no input can loop for ever: past CHECK_MAX_ATTEMPTS it is recorded failed.
 */
import type { ReleaseOutcome } from './pool.js';
import type { UpstreamFailure } from './upstream/errors.js';
import { RateLimited, UpstreamError } from './upstream/errors.js';

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
        countsAttempt: false,
        release: { kind: 'rate_limited', ...(err instanceof RateLimited && err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) },
        next: 'retry_elsewhere',
      };
    case 'proxy_failure':
      return { countsAttempt: false, release: { kind: 'proxy_failure', message: err.message }, next: 'retry_elsewhere' };
    case 'upstream_unreachable':
      return { countsAttempt: false, release: { kind: 'upstream_unreachable', message: err.message }, next: 'retry_elsewhere' };
    case 'session_invalid':
      // with a session, that session is spent and another may work; without one the source wants a login
      // that the pool cannot give now: wait for a valid session instead of failing profiles that are fine
      return context.hadSession
        ? { countsAttempt: false, release: { kind: 'session_invalid', message: err.message }, next: 'retry_elsewhere' }
        : { countsAttempt: false, release: { kind: 'neutral' }, next: 'wait' };
    case 'profile_not_found':
      // an answer: the proxy did its job
      return { countsAttempt: true, release: { kind: 'success' }, next: 'fail' };
    case 'upstream_error':
      // a 4xx the source would refuse again as it is (UpstreamError.retryable false) is final
      return {
        countsAttempt: true,
        release: { kind: 'neutral' },
        next: err instanceof UpstreamError && !err.retryable ? 'fail' : 'retry_later',
      };
    case 'malformed_response':
      return { countsAttempt: true, release: { kind: 'neutral' }, next: 'retry_later' };
  }
}

/** Backoff before a later attempt, from the profiles' counted tries (not from Temporal's activity attempt). */
export function backoffMs(tries: number, retry: { initialMs: number; maxMs: number; coefficient: number }): number {
  const n = Math.max(0, tries - 1);
  return Math.min(retry.maxMs, Math.round(retry.initialMs * retry.coefficient ** n));
}
