/**
 * What each answer of the source means for the profiles, the proxy and the session: every row starts from the
 * answer itself (a status, headers and body; a failed CONNECT; a token that cannot be sent) and goes through the
 * story client's own classification, so a row fails when either the classification or the policy is wrong.
 */
import { describe, expect, it } from 'vitest';
import { backoffMs, failurePolicy, type FailurePolicy } from '../../src/check/failure-policy.js';
import { classifyAnswer, type AnswerToClassify, type UpstreamFailure } from '../../src/upstream/errors.js';
import { classifyTransportError, parseProfileBody, ProxyTunnelError, StoryClient } from '../../src/upstream/story-client.js';

const withSession = { hadSession: true };
const withoutSession = { hadSession: false };

/** The failure the story client makes of an answer (null would be a success: a test error here). */
function answered(status: number, body: unknown = '', headers: AnswerToClassify['headers'] = {}, endpoint: AnswerToClassify['endpoint'] = 'reels_media'): UpstreamFailure {
  const failure = classifyAnswer({ status, headers, body: typeof body === 'string' ? body : JSON.stringify(body), endpoint });
  if (!failure) throw new Error(`${status} classified as a success`);
  return failure;
}

/** The failure the story client makes of a request that got no answer. */
const unanswered = (err: unknown): UpstreamFailure => classifyTransportError(err, 'reels_media');

/** What the story client throws for a session token that cannot go in a cookie header (nothing is sent). */
async function unsendableToken(): Promise<UpstreamFailure> {
  const client = new StoryClient({ baseUrl: 'http://127.0.0.1:9', appId: '1', userAgent: 'test', timeoutMs: 1_000 });
  try {
    await client.resolveUserId({ proxyId: 'p', proxyUrl: 'http://127.0.0.1:9', sessionToken: 'two words' }, 'alice');
  } catch (err) {
    return err as UpstreamFailure;
  } finally {
    await client.close();
  }
  throw new Error('an unsendable token was sent');
}

/** What the story client throws for a lookup answered 200 with a body that is not the documented one. */
function malformedLookup(): UpstreamFailure {
  try {
    parseProfileBody('<html>not json</html>', 'alice');
  } catch (err) {
    return err as UpstreamFailure;
  }
  throw new Error('a malformed body was parsed');
}

const coded = (code: string) => Object.assign(new Error(code), { code });
const pleaseWait = { message: 'Please wait a few minutes before you try again.', status: 'fail' };
const retryElsewhere = 'retry_elsewhere';
const retriedLater: Omit<FailurePolicy, 'owner'> = { countsAttempt: true, release: { kind: 'neutral' }, next: 'retry_later' };

describe('failurePolicy', () => {
  // One row per answer: who is charged, whether the profiles' try counts, what the release records, what comes next.
  const rows: Array<[string, () => UpstreamFailure | Promise<UpstreamFailure>, { hadSession: boolean }, FailurePolicy]> = [
    ['429 with Retry-After', () => answered(429, '', { 'retry-after': '1' }), withSession,
      { owner: 'pace', countsAttempt: false, release: { kind: 'rate_limited', retryAfterMs: 1_000 }, next: retryElsewhere }],
    ['429 without Retry-After', () => answered(429), withSession,
      { owner: 'pace', countsAttempt: false, release: { kind: 'rate_limited' }, next: retryElsewhere }],
    ['"Please wait a few minutes" at 400', () => answered(400, pleaseWait), withSession,
      { owner: 'pace', countsAttempt: false, release: { kind: 'rate_limited' }, next: retryElsewhere }],
    ['407 from the proxy', () => unanswered(new ProxyTunnelError('proxy answered 407 to CONNECT', 407)), withSession,
      { owner: 'proxy', countsAttempt: false, release: { kind: 'proxy_failure', message: expect.stringContaining('407') }, next: retryElsewhere }],
    ['a refused connection to the proxy', () => unanswered(coded('ECONNREFUSED')), withSession,
      { owner: 'proxy', countsAttempt: false, release: { kind: 'proxy_failure', message: expect.stringContaining('ECONNREFUSED') }, next: retryElsewhere }],
    ['403 that follows the address', () => answered(403, { message: 'forbidden', status: 'fail' }), withoutSession,
      { owner: 'proxy', countsAttempt: false, release: { kind: 'address_blocked', message: expect.stringContaining('403') }, next: retryElsewhere }],
    ['CONNECT answered 502', () => unanswered(new ProxyTunnelError('proxy answered 502 to CONNECT', 502)), withSession,
      { owner: 'upstream', countsAttempt: false, release: { kind: 'upstream_unreachable', message: expect.stringContaining('502') }, next: retryElsewhere }],
    ['login refused, with a session', () => answered(401, { message: 'login_required', status: 'fail' }), withSession,
      { owner: 'session', countsAttempt: false, release: { kind: 'session_invalid', message: expect.stringContaining('401'), refusal: 'login' }, next: retryElsewhere }],
    ['redirect to log in, with a session', () => answered(302, '', { location: 'https://www.instagram.com/accounts/login/' }), withSession,
      { owner: 'session', countsAttempt: false, release: { kind: 'session_invalid', message: expect.stringContaining('302'), refusal: 'login' }, next: retryElsewhere }],
    ['checkpoint', () => answered(400, { message: 'checkpoint_required', status: 'fail' }), withSession,
      { owner: 'session', countsAttempt: false, release: { kind: 'session_invalid', message: expect.stringContaining('checkpoint'), refusal: 'checkpoint' }, next: retryElsewhere }],
    ['a token that cannot be sent', unsendableToken, withSession,
      { owner: 'session', countsAttempt: false, release: { kind: 'session_invalid', message: expect.stringContaining('cannot be sent'), refusal: 'unsendable' }, next: retryElsewhere }],
    ['redirect to log in, without a session', () => answered(302, '', { location: '/accounts/login/?next=/' }), withoutSession,
      { owner: 'session', countsAttempt: false, release: { kind: 'neutral' }, next: 'wait' }],
    ['the lookup\'s 404', () => answered(404, '', {}, 'web_profile_info'), withSession,
      { owner: 'profile', countsAttempt: true, release: { kind: 'success' }, next: 'fail' }],
    ['500', () => answered(500), withSession, { owner: 'upstream', ...retriedLater }],
    ['a timeout', () => unanswered(coded('UND_ERR_HEADERS_TIMEOUT')), withSession, { owner: 'upstream', ...retriedLater }],
    ['a reset connection', () => unanswered(coded('ECONNRESET')), withSession, { owner: 'upstream', ...retriedLater }],
    ['an unexpected 400', () => answered(400, { message: 'Too many reels requested', status: 'fail' }), withSession, { owner: 'upstream', ...retriedLater }],
    ['408', () => answered(408), withSession, { owner: 'upstream', ...retriedLater }],
    ['425', () => answered(425), withSession, { owner: 'upstream', ...retriedLater }],
    ['404 from the stories call', () => answered(404), withSession, { owner: 'upstream', ...retriedLater }],
    ['a redirect elsewhere', () => answered(301, '', { location: 'https://elsewhere.example/' }), withSession, { owner: 'upstream', ...retriedLater }],
    ['a malformed body', malformedLookup, withSession, { owner: 'upstream', ...retriedLater }],
  ];

  it.each(rows)('%s', async (_answer, failure, context, expected) => {
    expect(failurePolicy(await failure(), context)).toEqual(expected);
  });

  it('fails profiles at once only for their own answer: nothing the source says about a session, a proxy, the pace or itself is final', async () => {
    for (const [, failure, context] of rows) {
      const err = await failure();
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
