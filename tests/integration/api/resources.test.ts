/**
 * Niches, profiles, proxies and sessions: their documented shapes, and credentials that never come back out.
 * The batch routes are not used, so no Temporal server is started.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Profile, Session } from '../../../src/api/schemas.js';
import { API_KEY, expectError, fieldsOf, startApiUnderTest, type Res } from '../../helpers/api.js';
import { SECRETS } from './fixtures.js';

const api = startApiUnderTest({ temporal: false });
const call = api.call.bind(api);
afterAll(() => api.expectNoSecrets());

describe('resources', () => {
  it('creates and lists niches, profiles, proxies and sessions with their documented shapes', async () => {
    const niche = (await call('POST', '/niches', { name: 'food' })).body;
    expect(niche).toEqual({ id: expect.any(String), name: 'food', created_at: expect.stringMatching(/Z$/) });
    const created = await call('POST', '/profiles', { usernames: ['@Chef.One', 'chef_two', 'chef.one'], niche_id: niche.id });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ created: 2, existing: 0 });
    expect(created.body.items.map((p: { username: string }) => p.username)).toEqual(['chef.one', 'chef_two']);
    const again = await call('POST', '/profiles', { usernames: ['chef_two', 'chef_three'] });
    expect(again.body).toMatchObject({ created: 1, existing: 1 });
    const profile = created.body.items[0];
    expect(Object.keys(profile).sort()).toEqual(fieldsOf(Profile));
    expect((await call('GET', `/profiles/${profile.id}`)).body).toEqual(profile);
    expect((await call('GET', `/profiles?niche_id=${niche.id}`)).body.items).toHaveLength(2);
    expect((await call('GET', '/profiles?active_story=true')).body.items).toHaveLength(0);

    // pages walk the whole list
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Res = await call('GET', `/profiles?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.body.items.length).toBeLessThanOrEqual(1);
      names.push(...page.body.items.map((p: { username: string }) => p.username));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(names.sort()).toEqual(['chef.one', 'chef_three', 'chef_two']);

    const proxy = await call('POST', '/proxies', { url: 'http://127.0.0.1:18081', username: 'me', password: SECRETS[2] });
    expect(proxy.status).toBe(201);
    expect(proxy.body).toMatchObject({ url: 'http://127.0.0.1:18081', status: 'active', success_count: 0 });
    expect(Object.keys(proxy.body)).not.toContain('password');
    expectError(await call('POST', '/proxies', { url: `socks5://u:${SECRETS[1]}@127.0.0.1:1080` }), 400, 'validation_error');
    expectError(await call('POST', '/proxies', { url: `http://u:${SECRETS[1]}@127.0.0.1:1080/path` }), 400, 'validation_error');
    expect((await call('PATCH', `/proxies/${proxy.body.id}`, { status: 'disabled' })).body.status).toBe('disabled');
    expect((await call('GET', `/proxies/${proxy.body.id}`)).body.status).toBe('disabled');
    expect((await call('GET', '/proxies')).body.items).toHaveLength(1);

    const session = await call('POST', '/sessions', { token: SECRETS[4], proxy_id: proxy.body.id });
    expect(session.status).toBe(201);
    expect(Object.keys(session.body).sort()).toEqual(fieldsOf(Session));
    expect((await call('GET', '/sessions')).body.items).toHaveLength(1);
    expect((await call('GET', `/sessions/${session.body.id}`)).body.status).toBe('valid');

    const deleted = await call('DELETE', `/sessions/${session.body.id}`);
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect((await call('DELETE', `/proxies/${proxy.body.id}`)).status).toBe(204);
    expect((await call('GET', '/proxies')).body).toEqual({ items: [], next_cursor: null });
  });
});

describe('secrets', () => {
  it('never returns a password, token or the API key in any response body or log line', async () => {
    // every route that touches credentials, with credentials of this test's own; then everything the file was
    // answered and logged so far is searched (and once more after its last test)
    const before = api.bodies.length;
    await call('POST', '/proxies', { url: `https://user:${SECRETS[0]}@10.0.0.1:3128` });
    await call('POST', '/proxies', { url: `https://user:${SECRETS[0]}@10.0.0.1:3128` });
    await call('POST', '/proxies', { url: 'http://10.0.0.2:3128', password: SECRETS[1] });
    await call('POST', '/proxies', { url: `ftp://user:${SECRETS[1]}@10.0.0.3:21` });
    const proxy = await call('POST', '/proxies', { url: 'http://127.0.0.1:18082', username: 'me', password: SECRETS[2] });
    expect(proxy.status, proxy.text).toBe(201);
    await call('POST', '/sessions', { token: SECRETS[3] });
    await call('POST', '/sessions', { token: SECRETS[3] });
    const session = await call('POST', '/sessions', { token: SECRETS[4], proxy_id: proxy.body.id });
    expect(session.status, session.text).toBe(201);
    await call('GET', '/proxies');
    await call('GET', '/sessions');
    await call('GET', `/proxies/${proxy.body.id}`);
    await call('GET', `/sessions/${session.body.id}`);
    await call('PATCH', `/proxies/${proxy.body.id}`, { status: 'disabled' });
    await call('DELETE', `/sessions/${session.body.id}`);
    expect(api.bodies.length - before).toBe(14);
    for (const secret of [...SECRETS, API_KEY]) expect(api.secrets).toContain(secret);
    api.expectNoSecrets();
  });
});
