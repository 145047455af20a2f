/**
 * Refuses state changes that a browser sent on behalf of another site, whatever the auth mode: with API_KEY
 * unset the API is open, and a page elsewhere could otherwise make a visitor's browser pause or cancel batches
 * on a local server. Browsers say where a request comes from (Sec-Fetch-Site, or else Origin); clients that are
 * not browsers send neither and are not affected.
 */
import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';

/** Methods that change nothing: never refused here, and never in need of a CSRF token. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The host:port of an Origin header; null for `null` (a sandboxed or file:// page) or anything unparsable. */
function originHost(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

export function rejectCrossSite(): MiddlewareHandler {
  return async (c, next) => {
    if (SAFE_METHODS.has(c.req.method)) return next();
    const site = c.req.header('sec-fetch-site');
    let foreign: boolean;
    if (site !== undefined) {
      foreign = site === 'cross-site' || site === 'same-site';
    } else {
      const origin = c.req.header('origin');
      foreign = origin !== undefined && originHost(origin) !== c.req.header('host');
    }
    if (foreign) throw new HTTPException(403, { message: 'a request from another site may not change anything here' });
    return next();
  };
}
