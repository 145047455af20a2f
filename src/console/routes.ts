/**
 * The dashboard's own routes, beside the API it calls: the page (`GET /`), its bundled script and styles, and
 * the sign-in (`/console/session`, `/console/login`, `/console/logout`). Everything else the page does goes
 * through the API's routes, with the same validation as any client. None of these is in the OpenAPI document:
 * they serve a browser, not an API client.
 */
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Config } from '../config.js';
import type { Logger } from '../logging/logger.js';
import { sleep } from '../process/timeouts.js';
import { consoleAssets } from './assets.js';
import { csrfToken, issueSession, keyMatches, SESSION_COOKIE, SESSION_MAX_AGE_S, verifySession } from './cookie-session.js';
import { servePage, serveVersionedFile } from './page-headers.js';
import { renderShell } from './shell.js';

/** A wrong key answers this much later: guessing keys from a browser stays slow. */
const WRONG_KEY_DELAY_MS = 400;

export interface ConsoleDeps {
  config: Config;
  logger: Logger;
}

/** What the page learns at start: whether it must ask for the key, its CSRF token, where the Web UI is. */
export interface ConsoleSessionInfo {
  auth_required: boolean;
  signed_in: boolean;
  csrf_token: string | null;
  temporal_ui_url: string | null;
  namespace: string;
}

const secure = (c: Context) =>
  new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https';

async function asset(c: Context, kind: 'js' | 'css') {
  const assets = await consoleAssets();
  return serveVersionedFile(c, {
    body: kind === 'js' ? assets.js : assets.css,
    contentType: kind === 'js' ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8',
    version: assets.version,
  });
}

export function consoleRouter(deps: ConsoleDeps): Hono {
  const { config, logger } = deps;
  const apiKey = config.API_KEY;
  const app = new Hono();

  app.get('/', async (c) => {
    const { version } = await consoleAssets();
    return servePage(c, renderShell(version));
  });
  app.get('/console/app.js', (c) => asset(c, 'js'));
  app.get('/console/app.css', (c) => asset(c, 'css'));

  app.get('/console/session', (c) => {
    const session = apiKey ? verifySession(apiKey, getCookie(c, SESSION_COOKIE)) : null;
    const info: ConsoleSessionInfo = {
      auth_required: apiKey !== undefined,
      signed_in: apiKey === undefined || session !== null,
      csrf_token: apiKey && session ? csrfToken(apiKey, session) : null,
      temporal_ui_url: config.TEMPORAL_UI_URL ?? null,
      namespace: config.TEMPORAL_NAMESPACE,
    };
    c.header('Cache-Control', 'no-store');
    return c.json(info);
  });

  app.post('/console/login', async (c) => {
    if (!apiKey) return c.body(null, 204); // the API is open: nothing to sign into
    const body = (await c.req.json().catch(() => null)) as { key?: unknown } | null;
    const given = typeof body?.key === 'string' ? body.key : '';
    if (!given) return c.json({ error: { code: 'validation_error', message: 'enter the API key' } }, 400);
    if (!keyMatches(apiKey, given)) {
      logger.warn('dashboard sign-in with a wrong key', { ip: c.req.header('x-forwarded-for') ?? null });
      await sleep(WRONG_KEY_DELAY_MS);
      return c.json({ error: { code: 'unauthorized', message: 'that is not the API key' } }, 401);
    }
    setCookie(c, SESSION_COOKIE, issueSession(apiKey), {
      httpOnly: true,
      sameSite: 'Strict',
      secure: secure(c),
      path: '/',
      maxAge: SESSION_MAX_AGE_S,
    });
    return c.body(null, 204);
  });

  app.post('/console/logout', (c) => {
    deleteCookie(c, SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'Strict', secure: secure(c) });
    return c.body(null, 204);
  });
  return app;
}
