/**
 * The dashboard's way in: its page and assets open to anyone, the key traded once for a signed httpOnly
 * SameSite=Strict cookie, that cookie accepted on the API's routes (state changes only with the CSRF token),
 * sign-out, and refusal of state changes a browser sends on another site's behalf, whatever the auth mode.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/api/app.js';
import { loadConfig } from '../../../src/config.js';
import { createLogger } from '../../../src/logging/logger.js';
import { API_KEY, expectError, startApiUnderTest, unusedTemporal } from '../../helpers/api.js';

const api = startApiUnderTest({ temporal: false, env: { TEMPORAL_UI_URL: 'http://ui.example:8233/' } });
const call = api.call.bind(api);
afterAll(() => api.expectNoSecrets());

/** Signs in with `key` and returns the cookie pair (`name=value`) it set, and the raw Set-Cookie header. */
async function signIn(key = API_KEY): Promise<{ cookie: string; setCookie: string }> {
  const res = await call('POST', '/console/login', { key }, { auth: false });
  expect(res.status, res.text).toBe(204);
  const setCookie = res.headers.get('set-cookie') ?? '';
  return { cookie: setCookie.split(';')[0]!, setCookie };
}

async function csrfOf(cookie: string): Promise<string> {
  const res = await call('GET', '/console/session', undefined, { auth: false, headers: { cookie } });
  expect(res.status).toBe(200);
  expect(res.body.signed_in).toBe(true);
  return res.body.csrf_token as string;
}

describe('the dashboard page', () => {
  it('serves its page, script and styles without the key, with a strict content security policy', async () => {
    const page = await call('GET', '/', undefined, { auth: false });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const version = /app\.js\?v=([\w-]+)/.exec(page.text)?.[1];
    expect(version).toBeTruthy();
    // everything the page loads is local: no other origin is named
    expect(page.text).not.toMatch(/(src|href)="https?:/);

    const js = await call('GET', `/console/app.js?v=${version}`, undefined, { auth: false });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect(js.text).toContain('/console/session');
    const again = await call('GET', '/console/app.js', undefined, { auth: false, headers: { 'if-none-match': js.headers.get('etag')! } });
    expect(again.status).toBe(304);
    const css = await call('GET', `/console/app.css?v=${version}`, undefined, { auth: false });
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
  });

  it('tells the page whether to ask for the key, and where the Temporal Web UI is', async () => {
    const res = await call('GET', '/console/session', undefined, { auth: false });
    expect(res.body).toEqual({
      auth_required: true,
      signed_in: false,
      csrf_token: null,
      temporal_ui_url: 'http://ui.example:8233',
      namespace: 'default',
    });
    expect(res.headers.get('cache-control')).toBe('no-store');
  });
});

describe('signing in with the key', () => {
  it('refuses a wrong or missing key, and sets an httpOnly SameSite=Strict cookie for the right one', async () => {
    expectError(await call('POST', '/console/login', { key: `${API_KEY}x` }, { auth: false }), 401, 'unauthorized');
    expectError(await call('POST', '/console/login', { key: '' }, { auth: false }), 400, 'validation_error');
    expectError(await call('POST', '/console/login', undefined, { auth: false, raw: 'not json' }), 400, 'validation_error');

    const { cookie, setCookie } = await signIn();
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).toMatch(/Path=\//);
    // the cookie proves the key without holding it
    expect(setCookie).not.toContain(API_KEY);
    expect(await csrfOf(cookie)).toMatch(/^[\w-]{20,}$/);
  });

  it('authenticates reads by the cookie, and changes only with the CSRF token', async () => {
    const { cookie } = await signIn();
    const csrf = await csrfOf(cookie);
    const read = await call('GET', '/niches', undefined, { auth: false, headers: { cookie } });
    expect(read.status).toBe(200);

    const name = `console-${Date.now()}`;
    const forged = await call('POST', '/niches', { name }, { auth: false, headers: { cookie } });
    expectError(forged, 403, 'forbidden');
    expect(forged.body.error.message).toMatch(/x-csrf-token/);
    expectError(await call('POST', '/niches', { name }, { auth: false, headers: { cookie, 'x-csrf-token': `${csrf}x` } }), 403, 'forbidden');
    // another sign-in's token does not fit this cookie
    const other = await csrfOf((await signIn()).cookie);
    expectError(await call('POST', '/niches', { name }, { auth: false, headers: { cookie, 'x-csrf-token': other } }), 403, 'forbidden');

    const made = await call('POST', '/niches', { name }, { auth: false, headers: { cookie, 'x-csrf-token': csrf } });
    expect(made.status, made.text).toBe(201);
    // nothing was created by the refused attempts
    const list = await call('GET', '/niches', undefined, { headers: {} });
    expect(list.body.items.filter((n: { name: string }) => n.name === name)).toHaveLength(1);
  });

  it('refuses a forged, altered or foreign cookie, and one signed with another key', async () => {
    const { cookie } = await signIn();
    const [name, value] = cookie.split('=') as [string, string];
    const [expires, nonce, mac] = value.split('.') as [string, string, string];
    for (const bad of [
      `${name}=${expires}.${nonce}.${mac.slice(0, -2)}AA`,
      `${name}=${Number(expires) + 3600}.${nonce}.${mac}`,
      `${name}=garbage`,
      `${name}=`,
    ]) {
      expectError(await call('GET', '/niches', undefined, { auth: false, headers: { cookie: bad } }), 401, 'unauthorized');
    }
    // after the key changes, every cookie is void
    const rotated = createApp({
      sql: api.db.sql,
      temporal: unusedTemporal(),
      config: loadConfig({ API_KEY: `${API_KEY}-rotated` }),
      logger: createLogger(),
    });
    expectError(await call('GET', '/niches', undefined, { auth: false, headers: { cookie }, target: rotated }), 401, 'unauthorized');
  });

  it('keeps bearer auth as it was, and signs out by clearing the cookie', async () => {
    expect((await call('GET', '/niches')).status).toBe(200);
    expect((await call('POST', '/niches', { name: `bearer-${Date.now()}` })).status).toBe(201);
    const out = await call('POST', '/console/logout', undefined, { auth: false });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/storycheck_session=;.*Max-Age=0/i);
  });
});

describe('requests a browser sends for another site', () => {
  it('refuses their state changes even when the API is open, and leaves other clients alone', async () => {
    const open = createApp({ sql: api.db.sql, temporal: unusedTemporal(), config: loadConfig({}), logger: createLogger() });
    const body = { name: `open-${Date.now()}` };
    const crossSite = await call('POST', '/niches', body, { auth: false, target: open, headers: { 'sec-fetch-site': 'cross-site' } });
    expectError(crossSite, 403, 'forbidden');
    const foreignOrigin = await call('POST', '/niches', body, { auth: false, target: open, headers: { origin: 'http://evil.example', host: 'localhost' } });
    expectError(foreignOrigin, 403, 'forbidden');
    expectError(await call('POST', '/niches', body, { auth: false, target: open, headers: { origin: 'null', host: 'localhost' } }), 403, 'forbidden');
    // reads stay open to anyone; the page itself (same origin) and clients without browser headers may change things
    expect((await call('GET', '/niches', undefined, { auth: false, target: open, headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(200);
    expect((await call('POST', '/niches', body, { auth: false, target: open, headers: { 'sec-fetch-site': 'same-origin' } })).status).toBe(201);
    expect((await call('POST', '/niches', { name: `${body.name}-2` }, { auth: false, target: open, headers: { origin: 'http://localhost', host: 'localhost' } })).status).toBe(201);
    expect((await call('POST', '/niches', { name: `${body.name}-3` }, { auth: false, target: open })).status).toBe(201);
    // an open API has an open console: nothing to sign into
    const session = await call('GET', '/console/session', undefined, { auth: false, target: open });
    expect(session.body).toMatchObject({ auth_required: false, signed_in: true, csrf_token: null, temporal_ui_url: null });
    expect((await call('POST', '/console/login', { key: 'anything' }, { auth: false, target: open })).status).toBe(204);
    // with the key set, a cross-site request is refused before its credentials are even looked at
    expectError(await call('POST', '/niches', body, { headers: { 'sec-fetch-site': 'cross-site' } }), 403, 'forbidden');
  });
});
