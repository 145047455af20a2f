/**
 * Auth (docs/api.md): with API_KEY set, every route but the open ones needs either `Authorization: Bearer <API_KEY>`
 * (API clients) or the dashboard's signed session cookie (browsers, see console/cookie-session.ts). A state
 * change authenticated by the cookie also needs the page's CSRF token in X-CSRF-Token: the SameSite=Strict
 * cookie already stays home on cross-site requests, and the token makes a forged same-site request fail too.
 * Bearer tokens are compared through equal-length digests with timingSafeEqual, so neither the key's content
 * nor its length leaks through response timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { HTTPException } from 'hono/http-exception';
import { CSRF_HEADER, csrfTokenMatches, SESSION_COOKIE, verifySession } from '../console/cookie-session.js';
import { SAFE_METHODS } from './cross-site.js';
import { DOCS_PAGE_PATHS } from './docs-page.js';

/**
 * GET routes that answer without a key: probes, the API description and its page, and the dashboard's shell and
 * assets. The only list of them: the OpenAPI document marks the documented ones open from it (router.ts's
 * createRoute).
 */
export const OPEN_ROUTES: ReadonlySet<string> = new Set([
  '/healthz',
  '/readyz',
  '/openapi.json',
  ...DOCS_PAGE_PATHS,
  '/',
  '/console/app.js',
  '/console/app.css',
  '/console/session',
]);

/** POST routes that answer without a key: the dashboard's sign-in and sign-out. */
export const OPEN_POSTS: ReadonlySet<string> = new Set(['/console/login', '/console/logout']);

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

export function isOpenRoute(method: string, path: string, options: { publicMetrics?: boolean } = {}): boolean {
  if (method === 'GET' || method === 'HEAD') return OPEN_ROUTES.has(path) || (options.publicMetrics === true && path === '/metrics');
  return method === 'POST' && OPEN_POSTS.has(path);
}

/** `publicMetrics` (METRICS_PUBLIC): GET /metrics answers without the key too. */
export function apiAuth(apiKey: string, options: { publicMetrics?: boolean } = {}): MiddlewareHandler {
  const expected = digest(apiKey);
  return async (c, next) => {
    if (isOpenRoute(c.req.method, c.req.path, options)) return next();
    const header = c.req.header('authorization');
    if (header === undefined) {
      const session = verifySession(apiKey, getCookie(c, SESSION_COOKIE));
      if (session) {
        if (!SAFE_METHODS.has(c.req.method) && !csrfTokenMatches(apiKey, session, c.req.header(CSRF_HEADER))) {
          throw new HTTPException(403, { message: `a change made with the dashboard's cookie needs its ${CSRF_HEADER} header; reload the page` });
        }
        return next();
      }
    }
    const match = /^bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      throw new HTTPException(401, {
        message: match ? 'the bearer token is not valid' : 'missing Authorization: Bearer <API_KEY> header',
      });
    }
    return next();
  };
}
