// The signing of webhook requests (src/webhooks/secret.ts), checked against the `standardwebhooks` package's own
// Webhook.verify: a receiver using the Standard Webhooks reference library accepts what storycheck sends.
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { deliveryBody } from '../../src/webhooks/delivery-body.js';
import { generateWebhookSecret, signature, signedHeaders, TIMESTAMP_TOLERANCE_S, verifySignedRequest } from '../../src/webhooks/secret.js';

/** The shape webhook_secrets.secret must have (sql/012_watches_and_webhooks.sql). */
const STORED_SECRET = /^whsec_[A-Za-z0-9+/=]{20,200}$/;

const nowS = () => Math.floor(Date.now() / 1000);
const body = deliveryBody(
  { event_type: 'story.posted', payload: { profile_id: 'p1', username: 'someone', item_pk: '3141', occurred_at: '2026-12-01T12:00:00.123456+00:00' }, created_at: new Date() },
  42,
);

describe('webhook secrets', () => {
  it('are whsec_ and base64 of 32 random bytes, as the table stores them', () => {
    const a = generateWebhookSecret();
    const b = generateWebhookSecret();
    expect(a).toMatch(STORED_SECRET);
    expect(Buffer.from(a.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(a).not.toBe(b);
  });
});

describe('signed requests, verified by the standardwebhooks package', () => {
  it('verifies a request signed with the endpoint secret, and gives back its body', () => {
    const secret = generateWebhookSecret();
    const headers = signedHeaders([secret], 'msg_1', nowS(), body);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('computes the same signature as the reference implementation', () => {
    const secret = generateWebhookSecret();
    const ts = nowS();
    expect(signature(secret, 'msg_2', ts, body)).toBe(new Webhook(secret).sign('msg_2', new Date(ts * 1000), body));
  });

  it('refuses a wrong secret, a changed body, another message id and a missing signature', () => {
    const secret = generateWebhookSecret();
    const headers = signedHeaders([secret], 'msg_3', nowS(), body);
    const verifier = new Webhook(secret);
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow(WebhookVerificationError);
    expect(() => verifier.verify(body.replace('someone', 'someone-else'), headers)).toThrow(WebhookVerificationError);
    expect(() => verifier.verify(body, { ...headers, 'webhook-id': 'msg_other' })).toThrow(WebhookVerificationError);
    const { 'webhook-signature': _dropped, ...unsigned } = headers;
    expect(() => verifier.verify(body, unsigned)).toThrow(WebhookVerificationError);
  });

  it('signs with every live secret during a rotation, so a receiver holding either one verifies', () => {
    const current = generateWebhookSecret();
    const previous = generateWebhookSecret();
    const headers = signedHeaders([current, previous], 'msg_4', nowS(), body);
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(new Webhook(current).verify(body, headers)).toEqual(JSON.parse(body));
    expect(new Webhook(previous).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow(WebhookVerificationError);
  });

  it('refuses to sign with no secret at all', () => {
    expect(() => signedHeaders([], 'msg_5', nowS(), body)).toThrow(/at least one secret/);
  });
});

describe('verifySignedRequest (what the local receiver does)', () => {
  const secret = generateWebhookSecret();
  const ts = nowS();
  const h = signedHeaders([generateWebhookSecret(), secret], 'msg_6', ts, body);
  const given = { id: h['webhook-id'], timestamp: h['webhook-timestamp'], signature: h['webhook-signature'] };

  it('accepts a fresh request signed (among others) with its secret', () => {
    expect(verifySignedRequest(secret, given, body, ts)).toBe(true);
  });

  it('refuses other secrets, other bodies, missing headers and timestamps outside the tolerance', () => {
    expect(verifySignedRequest(generateWebhookSecret(), given, body, ts)).toBe(false);
    expect(verifySignedRequest(secret, given, `${body} `, ts)).toBe(false);
    expect(verifySignedRequest(secret, { ...given, signature: null }, body, ts)).toBe(false);
    expect(verifySignedRequest(secret, { ...given, timestamp: 'soon' }, body, ts)).toBe(false);
    expect(verifySignedRequest(secret, given, body, ts + TIMESTAMP_TOLERANCE_S + 1)).toBe(false);
    expect(verifySignedRequest(secret, given, body, ts - TIMESTAMP_TOLERANCE_S - 1)).toBe(false);
    expect(verifySignedRequest(secret, given, body, ts + TIMESTAMP_TOLERANCE_S)).toBe(true);
  });
});

describe('delivery bodies', () => {
  it('carry type, the event time as ISO timestamp, and the payload with its seq as data', () => {
    expect(JSON.parse(body)).toEqual({
      type: 'story.posted',
      timestamp: '2026-12-01T12:00:00.123Z',
      data: { profile_id: 'p1', username: 'someone', item_pk: '3141', occurred_at: '2026-12-01T12:00:00.123456+00:00', seq: 42 },
    });
    expect(Object.keys(JSON.parse(body) as object)).toEqual(['type', 'timestamp', 'data']);
  });

  it('give a ping its own creation time and no seq', () => {
    const created = new Date('2026-12-02T08:30:00Z');
    const ping = deliveryBody({ event_type: 'ping', payload: { webhook_id: 'w1', message: 'ping' }, created_at: created }, null);
    expect(JSON.parse(ping)).toEqual({ type: 'ping', timestamp: created.toISOString(), data: { webhook_id: 'w1', message: 'ping' } });
  });
});
