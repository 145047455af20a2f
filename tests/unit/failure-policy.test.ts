import { describe, expect, it } from 'vitest';
import { backoffMs, failurePolicy, type FailurePolicy } from '../../src/check/failure-policy.js';
import {
  AddressBlocked,
  MalformedResponse,
  ProfileNotFound,
  ProxyFailure,
  RateLimited,
  SessionInvalid,
  UpstreamError,
  UpstreamUnreachable,
  type UpstreamFailure,
} from '../../src/upstream/errors.js';

const withSession = { hadSession: true };
const withoutSession = { hadSession: false };

describe('failurePolicy', () => {
  // One row per answer: who is charged, whether the profiles' try counts, what the release records, what comes next.
  const rows: Array<[string, UpstreamFailure, { hadSession: boolean }, FailurePolicy]> = [
    ['429 with Retry-After', new RateLimited('429', { status: 429, retryAfterMs: 1_000 }), withSession,
      { owner: 'pace', countsAttempt: false, release: { kind: 'rate_limited', retryAfterMs: 1_000 }, next: 'retry_elsewhere' }],
    ['429 without Retry-After', new RateLimited('429', { status: 429 }), withSession,
      { owner: 'pace', countsAttempt: false, release: { kind: 'rate_limited' }, next: 'retry_elsewhere' }],
    ['407 from the proxy', new ProxyFailure('407', { status: 407 }), withSession,
      { owner: 'proxy', countsAttempt: false, release: { kind: 'proxy_failure', message: '407' }, next: 'retry_elsewhere' }],
    ['403 that follows the address', new AddressBlocked('403', { status: 403 }), withoutSession,
      { owner: 'proxy', countsAttempt: false, release: { kind: 'address_blocked', message: '403' }, next: 'retry_elsewhere' }],
    ['CONNECT answered 502', new UpstreamUnreachable('502', { status: 502 }), withSession,
      { owner: 'upstream', countsAttempt: false, release: { kind: 'upstream_unreachable', message: '502' }, next: 'retry_elsewhere' }],
    ['login refused, with a session', new SessionInvalid('401', { status: 401 }), withSession,
      { owner: 'session', countsAttempt: false, release: { kind: 'session_invalid', message: '401', refusal: 'login' }, next: 'retry_elsewhere' }],
    ['redirect to log in, with a session', new SessionInvalid('302', { status: 302, refusal: 'login' }), withSession,
      { owner: 'session', countsAttempt: false, release: { kind: 'session_invalid', message: '302', refusal: 'login' }, next: 'retry_elsewhere' }],
    ['checkpoint', new SessionInvalid('400', { status: 400, refusal: 'checkpoint' }), withSession,
      { owner: 'session', countsAttempt: false, release: { kind: 'session_invalid', message: '400', refusal: 'checkpoint' }, next: 'retry_elsewhere' }],
    ['a token that cannot be sent', new SessionInvalid('unsendable', { refusal: 'unsendable' }), withSession,
      { owner: 'session', countsAttempt: false, release: { kind: 'session_invalid', message: 'unsendable', refusal: 'unsendable' }, next: 'retry_elsewhere' }],
    ['redirect to log in, without a session', new SessionInvalid('302', { status: 302 }), withoutSession,
      { owner: 'session', countsAttempt: false, release: { kind: 'neutral' }, next: 'wait' }],
    ['the lookup\'s 404', new ProfileNotFound('404', { status: 404 }), withSession,
      { owner: 'profile', countsAttempt: true, release: { kind: 'success' }, next: 'fail' }],
    ['500', new UpstreamError('500', { status: 500 }), withSession,
      { owner: 'upstream', countsAttempt: true, release: { kind: 'neutral' }, next: 'retry_later' }],
    ['a timeout', new UpstreamError('timeout', { code: 'TIMEOUT' }), withSession,
      { owner: 'upstream', countsAttempt: true, release: { kind: 'neutral' }, next: 'retry_later' }],
    ['an unexpected 400', new UpstreamError('400', { status: 400 }), withSession,
      { owner: 'upstream', countsAttempt: true, release: { kind: 'neutral' }, next: 'retry_later' }],
    ['404 from the stories call', new UpstreamError('404', { status: 404 }), withSession,
      { owner: 'upstream', countsAttempt: true, release: { kind: 'neutral' }, next: 'retry_later' }],
    ['a malformed body', new MalformedResponse('bad'), withSession,
      { owner: 'upstream', countsAttempt: true, release: { kind: 'neutral' }, next: 'retry_later' }],
  ];

  it.each(rows)('%s', (_answer, err, context, expected) => {
    expect(failurePolicy(err, context)).toEqual(expected);
  });

  it('fails profiles at once only for their own answer: nothing the source says about a session, a proxy, the pace or itself is final', () => {
    for (const [, err, context] of rows) {
      const policy = failurePolicy(err, context);
      if (policy.next === 'fail') expect(err.kind).toBe('profile_not_found');
      if (policy.owner !== 'profile' && policy.owner !== 'upstream') expect(policy.countsAttempt).toBe(false);
    }
  });
});

describe('backoffMs', () => {
  const retry = { initialMs: 1_000, maxMs: 60_000, coefficient: 2 };
  it('grows with the profile’s counted tries, capped', () => {
    expect([0, 1, 2, 3, 10].map((n) => backoffMs(n, retry))).toEqual([1_000, 1_000, 2_000, 4_000, 60_000]);
  });
});
