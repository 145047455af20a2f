import { describe, expect, it } from 'vitest';
import { backoffMs, failurePolicy } from '../../src/failure-policy.js';
import {
  MalformedResponse,
  ProfileNotFound,
  ProxyFailure,
  RateLimited,
  SessionInvalid,
  UpstreamError,
  UpstreamUnreachable,
} from '../../src/upstream/errors.js';

const withSession = { hadSession: true };
const withoutSession = { hadSession: false };

describe('failurePolicy', () => {
  it('never charges a profile for a rate limit, and sends the request on through another proxy after resting this one', () => {
    expect(failurePolicy(new RateLimited('429', { status: 429, retryAfterMs: 1_000 }), withSession)).toEqual({
      countsAttempt: false,
      release: { kind: 'rate_limited', retryAfterMs: 1_000 },
      next: 'retry_elsewhere',
    });
    expect(failurePolicy(new RateLimited('429'), withSession).release).toEqual({ kind: 'rate_limited' });
  });

  it('blames the proxy for its own faults, not the profile', () => {
    expect(failurePolicy(new ProxyFailure('407', { status: 407 }), withSession)).toEqual({
      countsAttempt: false,
      release: { kind: 'proxy_failure', message: '407' },
      next: 'retry_elsewhere',
    });
  });

  it('treats a CONNECT answered 5xx as an upstream outage: the proxy rests, nothing is counted or blamed', () => {
    expect(failurePolicy(new UpstreamUnreachable('502', { status: 502 }), withSession)).toEqual({
      countsAttempt: false,
      release: { kind: 'upstream_unreachable', message: '502' },
      next: 'retry_elsewhere',
    });
  });

  it('blames a refused session when there was one, and waits for a valid session when there was none', () => {
    expect(failurePolicy(new SessionInvalid('401'), withSession)).toEqual({
      countsAttempt: false,
      release: { kind: 'session_invalid', message: '401' },
      next: 'retry_elsewhere',
    });
    expect(failurePolicy(new SessionInvalid('401'), withoutSession)).toEqual({
      countsAttempt: false,
      release: { kind: 'neutral' },
      next: 'wait',
    });
  });

  it('charges the profile for answers about it: a missing profile and a refused request are final', () => {
    expect(failurePolicy(new ProfileNotFound('404'), withSession)).toEqual({ countsAttempt: true, release: { kind: 'success' }, next: 'fail' });
    expect(failurePolicy(new UpstreamError('400', { status: 400, retryable: false }), withSession)).toEqual({
      countsAttempt: true,
      release: { kind: 'neutral' },
      next: 'fail',
    });
  });

  it('charges a try for a 5xx, a timeout or a malformed answer, and retries later', () => {
    for (const err of [new UpstreamError('500', { status: 500 }), new UpstreamError('timeout', { code: 'TIMEOUT' }), new MalformedResponse('bad')]) {
      expect(failurePolicy(err, withSession)).toEqual({ countsAttempt: true, release: { kind: 'neutral' }, next: 'retry_later' });
    }
  });

  it('reads UpstreamError.retryable: 408 and 425 are retried, other 4xx are not', () => {
    expect(failurePolicy(new UpstreamError('408', { status: 408, retryable: true }), withSession).next).toBe('retry_later');
    expect(failurePolicy(new UpstreamError('422', { status: 422, retryable: false }), withSession).next).toBe('fail');
  });
});

describe('backoffMs', () => {
  const retry = { initialMs: 1_000, maxMs: 60_000, coefficient: 2 };
  it('grows with the profile’s counted tries, capped', () => {
    expect([0, 1, 2, 3, 10].map((n) => backoffMs(n, retry))).toEqual([1_000, 1_000, 2_000, 4_000, 60_000]);
  });
});
