import { describe, expect, it } from 'vitest';
import { registerSecret } from '../../src/logging/redact.js';
import {
  AddressBlocked,
  classifyAnswer,
  MalformedResponse,
  parseRetryAfter,
  ProfileNotFound,
  ProxyFailure,
  RateLimited,
  SessionInvalid,
  UpstreamError,
  UpstreamFailure,
} from '../../src/upstream/errors.js';
import {
  classifyTransportError,
  parseProfileBody,
  parseStoriesBody,
  ProxyTunnelError,
  StoryClient,
} from '../../src/upstream/story-client.js';

const NOW = Date.UTC(2025, 0, 1, 12); // ms
const nowS = NOW / 1000;
const json = (value: unknown) => JSON.stringify(value);

const reel = (id: string, items: Array<[taken: number, expiring: number]>) => ({
  id,
  latest_reel_media: Math.max(...items.map(([t]) => t)),
  items: items.map(([taken_at, expiring_at], i) => ({ pk: `${id}${i}`, taken_at, expiring_at })),
});

describe('web_profile_info body', () => {
  const ok = (user: unknown) => json({ data: { user }, status: 'ok' });

  it('yields the user id and privacy of a documented answer', () => {
    expect(parseProfileBody(ok({ id: '123', username: 'Alice', is_private: true }), 'alice')).toEqual({
      userId: '123',
      isPrivate: true,
    });
  });

  it('treats "user": null as a missing profile', () => {
    expect(() => parseProfileBody(ok(null), 'alice')).toThrow(ProfileNotFound);
  });

  it.each([
    ['a numeric id', ok({ id: 123, username: 'alice', is_private: false })],
    ['an id that is not digits', ok({ id: 'abc', username: 'alice', is_private: false })],
    ['is_private missing', ok({ id: '1', username: 'alice' })],
    ['no data', json({ status: 'ok' })],
    ['status fail', json({ data: { user: null }, status: 'fail' })],
    ['an HTML page', '<!DOCTYPE html><html></html>'],
    ['an answer about another username', ok({ id: '1', username: 'bob', is_private: false })],
  ])('rejects %s as malformed', (_label, body) => {
    expect(() => parseProfileBody(body, 'alice')).toThrow(MalformedResponse);
  });
});

describe('reels_media body', () => {
  it('counts only items still live, and keeps the newest live taken_at', () => {
    const body = json({
      reels: {
        '1': reel('1', [
          [nowS - 90_000, nowS - 3_600], // expired
          [nowS - 600, nowS + 85_800],
          [nowS - 60, nowS + 86_340],
        ]),
      },
      status: 'ok',
    });
    const result = parseStoriesBody(body, ['1'], NOW).get('1');
    expect(result).toMatchObject({ ok: true, hasStory: true, storyCount: 2, latestStoryAt: new Date((nowS - 60) * 1000) });
  });

  it('keeps every item listed, expired ones too, with its times and media type', () => {
    const items = [
      { pk: 17, taken_at: nowS - 90_000, expiring_at: nowS - 3_600, media_type: 2 },
      { pk: '18', taken_at: nowS - 60, expiring_at: nowS + 86_340, media_type: 1 },
      { pk: '19', taken_at: nowS - 30, expiring_at: nowS + 86_370, media_type: 8 },
    ];
    const body = json({ reels: { '1': { id: '1', latest_reel_media: nowS - 30, items } }, status: 'ok' });
    const result = parseStoriesBody(body, ['1'], NOW).get('1');
    expect(result?.ok && result.items).toEqual([
      { pk: '17', takenAt: new Date((nowS - 90_000) * 1000), expiringAt: new Date((nowS - 3_600) * 1000), mediaType: 'video' },
      { pk: '18', takenAt: new Date((nowS - 60) * 1000), expiringAt: new Date((nowS + 86_340) * 1000), mediaType: 'image' },
      { pk: '19', takenAt: new Date((nowS - 30) * 1000), expiringAt: new Date((nowS + 86_370) * 1000), mediaType: null },
    ]);
  });

  it('answers "no story" for an absent id and for a reel holding only expired items', () => {
    const body = json({ reels: { '2': reel('2', [[nowS - 90_000, nowS - 1]]) }, status: 'ok' });
    const results = parseStoriesBody(body, ['1', '2'], NOW);
    expect(results.get('1')).toEqual({ ok: true, hasStory: false, storyCount: 0, latestStoryAt: null, items: [] });
    expect(results.get('2')).toMatchObject({ ok: true, hasStory: false, storyCount: 0, latestStoryAt: null, items: [{ pk: '20' }] });
  });

  it('fails one malformed reel alone and keeps the others', () => {
    const body = json({
      reels: {
        '1': reel('1', [[nowS - 60, nowS + 1_000]]),
        '2': { id: '2', latest_reel_media: 'yesterday', items: [{ pk: null }] },
        '3': reel('4', [[nowS - 60, nowS + 1_000]]), // filed under the wrong key
      },
      status: 'ok',
    });
    const results = parseStoriesBody(body, ['1', '2', '3', '5'], NOW);
    expect(results.get('1')).toMatchObject({ ok: true, hasStory: true, storyCount: 1 });
    expect(results.get('5')).toMatchObject({ ok: true, hasStory: false });
    for (const id of ['2', '3']) {
      const r = results.get(id);
      expect(r?.ok).toBe(false);
      if (r && !r.ok) expect(r.error).toBeInstanceOf(MalformedResponse);
    }
  });

  it.each([
    ['reels as an array', json({ reels: [], status: 'ok' })],
    ['no reels', json({ reels_media: [], status: 'ok' })],
    ['status missing', json({ reels: {} })],
    ['not JSON', 'Sorry, something went wrong'],
  ])('rejects a 200 with %s as a whole', (_label, body) => {
    expect(() => parseStoriesBody(body, ['1'], NOW)).toThrow(MalformedResponse);
  });
});

describe('classifying answers', () => {
  const answer = (status: number, body: unknown, headers: Record<string, string> = {}, endpoint: 'web_profile_info' | 'reels_media' = 'reels_media') =>
    classifyAnswer({ status, body: typeof body === 'string' ? body : json(body), headers, endpoint }, NOW);
  const wait = { message: 'Please wait a few minutes before you try again.', status: 'fail' };

  it('lets a 200 through to parsing', () => {
    expect(answer(200, { reels: {}, status: 'ok' })).toBeNull();
  });

  it('reads 429 as rate limited, with Retry-After seconds when given', () => {
    const limited = answer(429, '', { 'retry-after': '30' });
    expect(limited).toBeInstanceOf(RateLimited);
    expect((limited as RateLimited).retryAfterMs).toBe(30_000);
    expect((answer(429, '') as RateLimited).retryAfterMs).toBeUndefined();
  });

  it('reads the "Please wait a few minutes" body as rate limited at any status', () => {
    for (const status of [200, 400, 403]) expect(answer(status, wait)).toBeInstanceOf(RateLimited);
  });

  it('reads 401, login_required and a checkpoint (at 400, 401 or 403) as a refused session, saying which', () => {
    expect(answer(401, { message: 'login_required', status: 'fail' })).toMatchObject({ kind: 'session_invalid', refusal: 'login' });
    expect(answer(401, '')).toMatchObject({ kind: 'session_invalid', refusal: 'login' });
    for (const status of [400, 403]) {
      expect(answer(status, { message: 'checkpoint_required', status: 'fail' })).toMatchObject({ kind: 'session_invalid', refusal: 'checkpoint' });
    }
  });

  it('reads a redirect to the login page as a refused session, and any other redirect as the upstream misbehaving', () => {
    expect(answer(302, '', { location: 'https://www.instagram.com/accounts/login/?next=/api/v1/feed/reels_media/' })).toMatchObject({
      kind: 'session_invalid',
      refusal: 'login',
      status: 302,
    });
    expect(answer(302, '', { location: '/challenge/?next=/' })).toBeInstanceOf(SessionInvalid);
    expect(answer(301, '', { location: 'https://elsewhere.example/' })).toMatchObject({ kind: 'upstream_error', status: 301 });
  });

  it('reads a 403 without a session message as a refused address: the proxy is charged, whatever was asked', () => {
    for (const body of [{ message: 'forbidden', status: 'fail' }, '', '<html>blocked</html>']) {
      expect(answer(403, body)).toBeInstanceOf(AddressBlocked);
    }
  });

  it('reads 404 as a missing profile on the lookup only; on the stories call it is the upstream misbehaving', () => {
    expect(answer(404, '', {}, 'web_profile_info')).toBeInstanceOf(ProfileNotFound);
    expect(answer(404, '')).toBeInstanceOf(UpstreamError);
    expect(answer(410, '')).toBeInstanceOf(UpstreamError);
  });

  it('reads 5xx and unexpected 4xx as upstream errors (retried with backoff by the failure policy)', () => {
    for (const status of [500, 502, 503]) expect(answer(status, '')).toBeInstanceOf(UpstreamError);
    expect(answer(400, { message: 'Too many reels requested', status: 'fail' })).toMatchObject({ kind: 'upstream_error', status: 400 });
  });

  it('parses Retry-After as delay-seconds or an HTTP-date, and anything else as absent (the caller falls back to its own rest)', () => {
    expect(parseRetryAfter('0')).toBe(0);
    expect(parseRetryAfter(['12'])).toBe(12_000);
    expect(parseRetryAfter(new Date(NOW + 5_000).toUTCString(), NOW)).toBe(5_000);
    expect(parseRetryAfter(new Date(NOW - 5_000).toUTCString(), NOW)).toBe(0);
    for (const unreadable of ['soon', '-1', '1.5', '5, 10', ' ', '1e3', '2026-12-05T10:00:00Z', ['5', '10']]) {
      expect(parseRetryAfter(unreadable, NOW)).toBeUndefined();
    }
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('classifying transport errors', () => {
  const coded = (code: string, message = code) => Object.assign(new Error(message), { code });

  it('blames the proxy for a refused connection, a 407 and a failed tunnel', () => {
    const auth = classifyTransportError(new ProxyTunnelError('proxy answered 407 to CONNECT', 407), 'reels_media');
    expect(auth).toBeInstanceOf(ProxyFailure);
    expect(auth.status).toBe(407);
    expect(classifyTransportError(new ProxyTunnelError('closed', undefined, 'UND_ERR_SOCKET'), 'x')).toBeInstanceOf(ProxyFailure);
    expect(classifyTransportError(coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1'), 'x')).toBeInstanceOf(ProxyFailure);
    expect(classifyTransportError(coded('UND_ERR_ABORTED', 'Proxy response (407) !== 200 when HTTP Tunneling'), 'x')).toMatchObject({
      kind: 'proxy_failure',
      status: 407,
    });
  });

  it('reads timeouts and resets of an open tunnel as upstream errors', () => {
    for (const code of ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_SOCKET', 'ECONNRESET', 'SOMETHING_ELSE']) {
      expect(classifyTransportError(coded(code), 'x')).toBeInstanceOf(UpstreamError);
    }
  });
});

describe('failure classes', () => {
  it('carry kind and name, and extend UpstreamFailure', () => {
    const cases: Array<[UpstreamFailure, string, string]> = [
      [new RateLimited('x', { retryAfterMs: 1 }), 'rate_limited', 'RateLimited'],
      [new ProfileNotFound('x'), 'profile_not_found', 'ProfileNotFound'],
      [new SessionInvalid('x'), 'session_invalid', 'SessionInvalid'],
      [new AddressBlocked('x'), 'address_blocked', 'AddressBlocked'],
      [new ProxyFailure('x'), 'proxy_failure', 'ProxyFailure'],
      [new UpstreamError('x'), 'upstream_error', 'UpstreamError'],
      [new MalformedResponse('x'), 'malformed_response', 'MalformedResponse'],
    ];
    for (const [err, kind, name] of cases) {
      expect(err).toBeInstanceOf(UpstreamFailure);
      expect(err).toBeInstanceOf(Error);
      expect([err.kind, err.name]).toEqual([kind, name]);
    }
  });

  it('never carry a proxy password or a session token in their message', () => {
    registerSecret('registered-token-123');
    const err = new UpstreamError(
      'failed via http://user:pr0xy-pass@10.0.0.1:8080 with Cookie: sessionid=abcdef123; and registered-token-123',
    );
    expect(err.message).not.toContain('pr0xy-pass');
    expect(err.message).not.toContain('abcdef123');
    expect(err.message).not.toContain('registered-token-123');
  });
});

describe('StoryClient argument checks', () => {
  const client = new StoryClient({ baseUrl: 'http://127.0.0.1:9', appId: '1', userAgent: 'test', timeoutMs: 1_000 });
  const target = { proxyId: 'p', proxyUrl: 'http://127.0.0.1:9' };

  it('refuses 0 or more than 50 ids, and non-digit ids, before any request', async () => {
    await expect(client.fetchStories(target, [])).rejects.toThrow(RangeError);
    const ids = Array.from({ length: 51 }, (_, i) => String(1000 + i));
    await expect(client.fetchStories(target, ids)).rejects.toThrow(RangeError);
    await expect(client.fetchStories(target, ['12', '1; drop'])).rejects.toThrow(RangeError);
  });
});
