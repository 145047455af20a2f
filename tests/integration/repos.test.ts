import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { presentPage, toApiLog, toApiProfile, toApiProxy, toApiSession } from '../../src/api/present.js';
import { LogItem, Profile, Proxy, Session } from '../../src/api/schemas.js';
import { ConflictError, NotFoundError, ValidationError } from '../../src/repos/errors.js';
import { insertLog, insertLogs, listLogs } from '../../src/repos/logs.js';
import { createNiche, getNiche, listNiches } from '../../src/repos/niches.js';
import type { Page } from '../../src/repos/pagination.js';
import {
  getProfile,
  listProfiles,
  normalizeUsername,
  setUpstreamUserId,
  upsertProfiles,
} from '../../src/repos/profiles.js';
import {
  createProxy,
  deleteProxy,
  getProxy,
  listProxies,
  setProxyStatus,
} from '../../src/repos/proxies.js';
import { createSession, deleteSession, getSession, listSessions } from '../../src/repos/sessions.js';
import { fieldsOf } from '../helpers/api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

/** Walks every page of a keyset-paginated list. */
async function collect<T>(fetch: (cursor: string | null) => Promise<Page<T>>): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: Page<T> = await fetch(cursor);
    items.push(...page.items);
    cursor = page.next_cursor;
    pages++;
  } while (cursor !== null);
  return { items, pages };
}

async function countProfiles(): Promise<number> {
  const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from profiles`;
  return row!.n;
}

describe('profiles', () => {
  beforeEach(async () => {
    await db.sql`truncate profiles, niches cascade`;
  });

  it('normalises usernames: trim, one leading @ dropped, lower-case, a-z 0-9 . _ up to 30', () => {
    expect(normalizeUsername('  @Some.User_1 ')).toBe('some.user_1');
    expect(normalizeUsername('UPPER')).toBe('upper');
    expect(normalizeUsername('a'.repeat(30))).toBe('a'.repeat(30));
    for (const bad of ['', '   ', '@', '@@double', 'a'.repeat(31), 'with space', 'émile', 'dash-ed', 'semi;colon', 42, null]) {
      expect(normalizeUsername(bad)).toBeNull();
    }
  });

  it('creates new profiles, collapses duplicates and reports existing ones, in input order', async () => {
    const first = await upsertProfiles(db.sql, ['Alice', '@bob', 'alice', ' carol ']);
    expect(first.created).toBe(3);
    expect(first.existing).toBe(0);
    expect(first.items.map((p) => p.username)).toEqual(['alice', 'bob', 'carol']);

    const second = await upsertProfiles(db.sql, ['dave', '@BOB']);
    expect(second).toMatchObject({ created: 1, existing: 1 });
    expect(second.items.map((p) => p.username)).toEqual(['dave', 'bob']);
    expect(second.items[1]!.id).toBe(first.items[1]!.id);
    expect(await countProfiles()).toBe(4);
  });

  it('rejects the whole call naming every invalid username, and inserts nothing', async () => {
    const err = await upsertProfiles(db.sql, ['good_one', 'bad name', '@@x', 'fine2', 'dash-ed']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).details).toEqual({ invalid_usernames: ['bad name', '@@x', 'dash-ed'] });
    expect((err as Error).message).toContain('bad name');
    expect(await countProfiles()).toBe(0);
  });

  it('rejects an unknown niche without inserting, and files profiles under a known one', async () => {
    await expect(upsertProfiles(db.sql, ['someone'], '00000000-0000-4000-8000-000000000000')).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(upsertProfiles(db.sql, ['someone'], 'not-a-uuid')).rejects.toBeInstanceOf(ValidationError);
    expect(await countProfiles()).toBe(0);

    await upsertProfiles(db.sql, ['existing']);
    const niche = await createNiche(db.sql, 'fitness');
    const result = await upsertProfiles(db.sql, ['existing', 'newcomer'], niche.id);
    expect(result).toMatchObject({ created: 1, existing: 1 });
    expect(result.items.every((p) => p.niche_id === niche.id)).toBe(true);
  });

  it('takes 10,000 usernames in one call', async () => {
    const names = Array.from({ length: 10_000 }, (_, i) => `user_${i}`);
    const result = await upsertProfiles(db.sql, names);
    expect(result.created).toBe(10_000);
    expect(result.items).toHaveLength(10_000);
    expect(result.items[9_999]!.username).toBe('user_9999');
  });

  it('works inside a caller transaction, which can roll it back', async () => {
    await db.sql
      .begin(async (tx) => {
        await upsertProfiles(tx, ['inside_tx']);
        throw new Error('roll back');
      })
      .catch(() => {});
    expect(await countProfiles()).toBe(0);
  });

  it('shows docs/api.md fields only, with ISO timestamps', async () => {
    const { items } = await upsertProfiles(db.sql, ['shape']);
    const profile = await getProfile(db.sql, items[0]!.id);
    const api = toApiProfile(profile);
    expect(Object.keys(api).sort()).toEqual(fieldsOf(Profile));
    expect(api).toMatchObject({ active_story: false, total_checks: 0, last_checked_at: null, niche_id: null });
    expect(api.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(toApiProfile(items[0]!)).toEqual(api);
  });

  it('caches the upstream user id; unknown profiles are not found', async () => {
    const { items } = await upsertProfiles(db.sql, ['cached']);
    await setUpstreamUserId(db.sql, items[0]!.id, '12345', true);
    expect(await getProfile(db.sql, items[0]!.id)).toMatchObject({ upstream_user_id: '12345', is_private: true });
    await expect(getProfile(db.sql, '00000000-0000-4000-8000-000000000000')).rejects.toBeInstanceOf(NotFoundError);
    await expect(getProfile(db.sql, 'nope')).rejects.toBeInstanceOf(NotFoundError);
    await expect(setUpstreamUserId(db.sql, '00000000-0000-4000-8000-000000000000', '1', false)).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it('pages by keyset with filters, every profile exactly once', async () => {
    const niche = await createNiche(db.sql, 'travel');
    await upsertProfiles(db.sql, Array.from({ length: 23 }, (_, i) => `in_niche_${i}`), niche.id);
    await upsertProfiles(db.sql, Array.from({ length: 12 }, (_, i) => `elsewhere_${i}`));
    await db.sql`update profiles set active_story = true where username like '%\\_1%'`;

    const all = await collect((cursor) => listProfiles(db.sql, { limit: 5, cursor }));
    expect(all.items).toHaveLength(35);
    expect(new Set(all.items.map((p) => p.id)).size).toBe(35);
    expect(all.pages).toBe(7);

    const inNiche = await collect((cursor) => listProfiles(db.sql, { nicheId: niche.id, limit: 4, cursor }));
    expect(inNiche.items).toHaveLength(23);
    expect(inNiche.items.every((p) => p.niche_id === niche.id)).toBe(true);

    const active = await collect((cursor) => listProfiles(db.sql, { activeStory: true, limit: 3, cursor }));
    const expected = all.items.filter((p) => p.active_story).length;
    expect(expected).toBeGreaterThan(0);
    expect(active.items).toHaveLength(expected);
    expect(active.items.every((p) => p.active_story)).toBe(true);

    const page = await listProfiles(db.sql, { limit: 1000 });
    expect(page.next_cursor).toBeNull();
  });
});

describe('niches', () => {
  beforeEach(async () => {
    await db.sql`truncate niches cascade`;
  });

  it('creates a niche and refuses a duplicate name with a ConflictError', async () => {
    const niche = await createNiche(db.sql, '  beauty ');
    expect(niche).toMatchObject({ name: 'beauty' });
    expect(await getNiche(db.sql, niche.id)).toEqual(niche);
    const err = await createNiche(db.sql, 'beauty').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).code).toBe('conflict');
    await expect(createNiche(db.sql, '   ')).rejects.toBeInstanceOf(ValidationError);
    await expect(getNiche(db.sql, '00000000-0000-4000-8000-000000000000')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lists niches by name across pages', async () => {
    const names = ['delta', 'Alpha', 'charlie', 'bravo', 'echo'];
    for (const name of names) await createNiche(db.sql, name);
    const { items } = await collect((cursor) => listNiches(db.sql, { limit: 2, cursor }));
    expect(items.map((n) => n.name)).toEqual(['Alpha', 'bravo', 'charlie', 'delta', 'echo']);
  });
});

describe('proxies', () => {
  beforeEach(async () => {
    await db.sql`truncate proxies, sessions cascade`;
  });

  it('stores the url without credentials and never exposes them', async () => {
    const row = await createProxy(db.sql, { url: 'http://alice:s3cr3t-pass@10.0.0.1:3128' });
    expect(row.url).toBe('http://10.0.0.1:3128');
    const api = toApiProxy(row);
    expect(Object.keys(api).sort()).toEqual(fieldsOf(Proxy));
    expect(api.status).toBe('active');
    for (const shown of [row, api, await getProxy(db.sql, row.id), await listProxies(db.sql, { limit: 10 })]) {
      const text = JSON.stringify(shown);
      expect(text).not.toContain('s3cr3t-pass');
      expect(text).not.toContain('alice');
    }
    // the credentials are stored, apart from the url
    const [stored] = await db.sql<{ username: string; password: string }[]>`select username, password from proxies`;
    expect(stored).toEqual({ username: 'alice', password: 's3cr3t-pass' });
  });

  it('accepts credentials as separate fields, percent-decodes embedded ones, and only http(s)', async () => {
    await createProxy(db.sql, { url: 'https://proxy.example:8443', username: 'bob', password: 'p@ss:word' });
    await createProxy(db.sql, { url: 'http://carol:p%40ss@proxy.example:8080/' });
    const creds = await db.sql<{ url: string; username: string; password: string }[]>`
      select url, username, password from proxies order by url`;
    expect(creds).toEqual([
      { url: 'http://proxy.example:8080', username: 'carol', password: 'p@ss' },
      { url: 'https://proxy.example:8443', username: 'bob', password: 'p@ss:word' },
    ]);
    for (const url of ['socks5://h:1080', 'ftp://h:21', 'not a url', 'http://h:1/path', 'http://h:1/?q=1', '']) {
      await expect(createProxy(db.sql, { url })).rejects.toBeInstanceOf(ValidationError);
    }
    await expect(createProxy(db.sql, { url: 'http://u:p@h:1', username: 'x', password: 'y' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(createProxy(db.sql, { url: 'http://h:2', password: 'orphan-password' })).rejects.toBeInstanceOf(ValidationError);
  });

  it('refuses a duplicate url (whatever the credentials) with a ConflictError that names no secret', async () => {
    await createProxy(db.sql, { url: 'http://u1:first-secret@10.0.0.2:3128' });
    const err = await createProxy(db.sql, { url: 'http://u2:second-secret@10.0.0.2:3128' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(JSON.stringify({ m: (err as Error).message, d: (err as ConflictError).details })).not.toMatch(/secret/);
  });

  it('reports cooling_down only while the cooldown lasts, and re-activating clears failures and cooldown', async () => {
    const row = await createProxy(db.sql, { url: 'http://10.0.0.3:3128' });
    const now = new Date();
    const future = new Date(now.getTime() + 60_000);
    const past = new Date(now.getTime() - 1);
    expect(toApiProxy({ ...row, status: 'cooling_down', rate_limited_until: future }, now).status).toBe('cooling_down');
    expect(toApiProxy({ ...row, status: 'cooling_down', rate_limited_until: past }, now).status).toBe('active');
    expect(toApiProxy({ ...row, status: 'disabled', rate_limited_until: future }, now).status).toBe('disabled');

    await db.sql`update proxies set status = 'cooling_down', rate_limited_until = now() + interval '1 minute',
                 consecutive_failures = 2 where id = ${row.id}`;
    expect((await setProxyStatus(db.sql, row.id, 'disabled')).status).toBe('disabled');
    const back = await setProxyStatus(db.sql, row.id, 'active');
    expect(back).toMatchObject({ status: 'active', consecutive_failures: 0, rate_limited_until: null });
    await expect(setProxyStatus(db.sql, '00000000-0000-4000-8000-000000000000', 'active')).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it('pages proxies, and deleting one unpairs its sessions', async () => {
    for (let i = 0; i < 7; i++) await createProxy(db.sql, { url: `http://10.0.1.${i}:3128` });
    const { items } = await collect((cursor) => listProxies(db.sql, { limit: 3, cursor }));
    expect(items.map((p) => p.url)).toEqual(Array.from({ length: 7 }, (_, i) => `http://10.0.1.${i}:3128`));

    const session = await createSession(db.sql, { token: 'token-for-delete-test', proxyId: items[0]!.id });
    await deleteProxy(db.sql, items[0]!.id);
    await expect(getProxy(db.sql, items[0]!.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(deleteProxy(db.sql, items[0]!.id)).rejects.toBeInstanceOf(NotFoundError);
    expect((await getSession(db.sql, session.id)).proxy_id).toBeNull();
  });
});

describe('sessions', () => {
  beforeEach(async () => {
    await db.sql`truncate proxies, sessions cascade`;
  });

  it('stores a session, shows it without its token, and refuses unknown proxies and duplicates', async () => {
    const proxy = await createProxy(db.sql, { url: 'http://10.0.2.1:3128' });
    const row = await createSession(db.sql, { token: ' sess-token-value-1\n', proxyId: proxy.id });
    const api = toApiSession(row);
    expect(Object.keys(api).sort()).toEqual(fieldsOf(Session));
    expect(api).toMatchObject({ proxy_id: proxy.id, status: 'valid', last_used_at: null });
    const [stored] = await db.sql<{ token: string }[]>`select token from sessions`;
    expect(stored!.token).toBe('sess-token-value-1');

    const listed = await listSessions(db.sql, { limit: 10 });
    expect(JSON.stringify(listed)).not.toContain('sess-token-value-1');
    expect(listed.items).toHaveLength(1);

    const dup = await createSession(db.sql, { token: 'sess-token-value-1' }).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(ConflictError);
    expect(JSON.stringify({ m: (dup as Error).message, d: (dup as ConflictError).details })).not.toContain('sess-token');

    await expect(
      createSession(db.sql, { token: 'sess-token-value-2', proxyId: '00000000-0000-4000-8000-000000000000' }),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(createSession(db.sql, { token: 'sess-token-value-3', proxyId: 'junk' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(createSession(db.sql, { token: '  ' })).rejects.toBeInstanceOf(ValidationError);

    await deleteSession(db.sql, row.id);
    await expect(deleteSession(db.sql, row.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('pages sessions', async () => {
    for (let i = 0; i < 5; i++) await createSession(db.sql, { token: `paged-token-${i}` });
    const { items, pages } = await collect((cursor) => listSessions(db.sql, { limit: 2, cursor }));
    expect(items).toHaveLength(5);
    expect(new Set(items.map((s) => s.id)).size).toBe(5);
    expect(pages).toBe(3);
  });
});

describe('batch logs', () => {
  let batchId: string;

  beforeEach(async () => {
    await db.sql`truncate batches, batch_logs cascade`;
    const [batch] = await db.sql<{ id: string }[]>`insert into batches (status) values ('paused') returning id`;
    batchId = batch!.id;
  });

  it('lists a batch log oldest first in docs/api.md shape, filtered and paged', async () => {
    await insertLog(db.sql, { batchId, level: 'INFO', eventType: 'BATCH_QUEUED', message: 'queued' });
    await insertLogs(db.sql, [
      { batchId, level: 'INFO', eventType: 'PROFILE_CHECK_STARTED', message: 'one' },
      { batchId, level: 'WARNING', eventType: 'CHECK_RETRY', message: 'two', details: { attempt: 2 }, durationMs: 12.4 },
      { batchId, level: 'ERROR', eventType: 'CHECK_FAILED', message: 'three', details: { error_type: 'x', message: 'boom' } },
      { batchId, level: 'INFO', eventType: 'STORY_CHECK_SUCCESS', message: 'four', details: { has_story: true } },
    ]);
    await insertLog(db.sql, { level: 'INFO', eventType: 'BATCH_QUEUED', message: 'another batch is not listed' });

    const all = await collect(async (cursor) => presentPage(await listLogs(db.sql, batchId, { limit: 2, cursor }), toApiLog));
    expect(all.items.map((l) => l.message)).toEqual(['queued', 'one', 'two', 'three', 'four']);
    expect(Object.keys(all.items[2]!).sort()).toEqual(fieldsOf(LogItem));
    expect(all.items[2]).toMatchObject({
      batch_id: batchId,
      level: 'WARNING',
      event_type: 'CHECK_RETRY',
      details: { attempt: 2 },
      duration_ms: 12,
      profile_id: null,
    });
    expect(all.items[0]!.details).toBeNull();
    expect(all.items[0]!.created_at).toMatch(/Z$/);

    expect((await listLogs(db.sql, batchId, { level: 'ERROR', limit: 10 })).items.map((l) => l.message)).toEqual(['three']);
    expect(
      (await listLogs(db.sql, batchId, { eventType: 'STORY_CHECK_SUCCESS', limit: 10 })).items[0]?.details,
    ).toEqual({ has_story: true });
    await expect(listLogs(db.sql, '00000000-0000-4000-8000-000000000000', { limit: 10 })).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });
});
