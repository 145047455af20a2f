/**
 * Webhook signing secrets and signatures in the Standard Webhooks format (standardwebhooks.com): a secret is
 * `whsec_` + base64 of 32 random bytes; a request carries `webhook-id`, `webhook-timestamp` (Unix seconds) and
 * `webhook-signature`: `v1,` + base64 of HMAC-SHA256, keyed with the secret's bytes, over `id.timestamp.body`.
 * During a rotation's overlap a request is signed with each live secret, the signatures separated by spaces,
 * and a receiver holding either one verifies it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX = 'whsec_';

/** A new signing secret. */
export function generateWebhookSecret(): string {
  return PREFIX + randomBytes(32).toString('base64');
}

function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64');
}

/** `v1,<base64>`: one signature of `id.timestamp.body` with one secret. */
export function signature(secret: string, id: string, timestampS: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${timestampS}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The three headers of one request, signed with every secret given (the current one first). */
export function signedHeaders(secrets: readonly string[], id: string, timestampS: number, body: string): Record<string, string> {
  if (secrets.length === 0) throw new Error('a webhook request needs at least one secret');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampS),
    'webhook-signature': secrets.map((s) => signature(s, id, timestampS, body)).join(' '),
  };
}

/** How far a request's timestamp may be from the receiver's clock (the spec's tolerance). */
export const TIMESTAMP_TOLERANCE_S = 5 * 60;

/**
 * Whether a request's headers carry a valid signature of `body` with `secret`, made recently: what a receiver
 * does (the local receiver of `npm run dev` uses it). Constant-time comparison.
 */
export function verifySignedRequest(
  secret: string,
  headers: { id?: string | null; timestamp?: string | null; signature?: string | null },
  body: string,
  nowS = Math.floor(Date.now() / 1000),
): boolean {
  const { id, timestamp, signature: given } = headers;
  if (!id || !timestamp || !given || !/^\d{1,12}$/.test(timestamp)) return false;
  const ts = Number(timestamp);
  if (Math.abs(nowS - ts) > TIMESTAMP_TOLERANCE_S) return false;
  const expected = Buffer.from(signature(secret, id, ts, body));
  return given.split(' ').some((candidate) => {
    const c = Buffer.from(candidate);
    return c.length === expected.length && timingSafeEqual(c, expected);
  });
}
