/**
 * Bearer-token auth (API.md): with API_KEY set, every route but the open ones needs
 * `Authorization: Bearer <API_KEY>`. Both sides are hashed to equal-length digests and compared with
 * timingSafeEqual, so neither the key's content nor its length leaks through response timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';

/** GET routes that answer without a key: probes and the API description. */
export const OPEN_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/openapi.json', '/docs']);

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

export function bearerAuth(apiKey: string): MiddlewareHandler {
  const expected = digest(apiKey);
  return async (c, next) => {
    if ((c.req.method === 'GET' || c.req.method === 'HEAD') && OPEN_ROUTES.has(c.req.path)) return next();
    const header = c.req.header('authorization') ?? '';
    const match = /^bearer\s+(\S+)\s*$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      throw new HTTPException(401, {
        message: match ? 'the bearer token is not valid' : 'missing Authorization: Bearer <API_KEY> header',
      });
    }
    return next();
  };
}
