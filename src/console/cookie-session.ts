/**
 * The dashboard's sign-in: a browser trades the API key once for a signed cookie, so the key is typed once and
 * never kept where page scripts can read it. The cookie is httpOnly and SameSite=Strict and holds
 * `<expires>.<nonce>.<mac>`, where mac = HMAC-SHA256(API_KEY, "<expires>.<nonce>"): it proves the key was
 * given without containing it, and changing API_KEY signs every browser out.
 *
 * State changes authenticated by the cookie also need the CSRF token, which is derived from the same nonce and
 * handed to the page by `GET /console/session` (a response only the dashboard's own origin can read).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'storycheck_session';
export const CSRF_HEADER = 'x-csrf-token';
/** How long a sign-in lasts. */
export const SESSION_MAX_AGE_S = 7 * 24 * 3600;

const mac = (key: string, text: string) => createHmac('sha256', key).update(text, 'utf8').digest('base64url');

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface ConsoleSession {
  nonce: string;
  expiresAt: Date;
}

/** A new cookie value for a browser that gave the right key. */
export function issueSession(apiKey: string, now = Date.now()): string {
  const expires = Math.floor(now / 1000) + SESSION_MAX_AGE_S;
  const nonce = randomBytes(18).toString('base64url');
  const payload = `${expires}.${nonce}`;
  return `${payload}.${mac(apiKey, payload)}`;
}

/** The session a cookie value proves, or null when it is forged, mangled or expired. */
export function verifySession(apiKey: string, value: string | undefined, now = Date.now()): ConsoleSession | null {
  if (!value) return null;
  const parts = value.split('.');
  if (parts.length !== 3) return null;
  const [expires, nonce, signature] = parts as [string, string, string];
  if (!/^\d{1,12}$/.test(expires) || !equal(signature, mac(apiKey, `${expires}.${nonce}`))) return null;
  const expiresAt = new Date(Number(expires) * 1000);
  return expiresAt.getTime() > now ? { nonce, expiresAt } : null;
}

/** The token a page sends in X-CSRF-Token with every state change its cookie authenticates. */
export function csrfToken(apiKey: string, session: ConsoleSession): string {
  return mac(apiKey, `csrf.${session.nonce}`);
}

export function csrfTokenMatches(apiKey: string, session: ConsoleSession, token: string | undefined): boolean {
  return token !== undefined && equal(token, csrfToken(apiKey, session));
}

/** Whether the API key a person typed is the server's (compared in constant time, whatever the lengths). */
export function keyMatches(apiKey: string, given: string): boolean {
  return equal(mac('storycheck-key-check', given), mac('storycheck-key-check', apiKey));
}
