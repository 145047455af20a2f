/**
 * Exports: a batch's profiles and the profile list as CSV and NDJSON, story events as NDJSON, chosen by
 * `?format=` or the Accept header; read back (CSV by an RFC 4180 reader, formula escaping undone), each file
 * equals the JSON list read page by page, with the list's filters and without its paging. Also: the file names,
 * errors before the file starts, and a download cut short giving its Postgres connection back.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/api/app.js';
import { createSql } from '../../../src/db/sql.js';
import { createLogger } from '../../../src/logging/logger.js';
import { API_KEY, expectError, startApiUnderTest, unusedTemporal, type App } from '../../helpers/api.js';
import { asCsvText, csvObjects } from '../../helpers/csv.js';
import { hoursFromNow, insertCheck, insertDoneBatch, insertNiche, insertProfile, insertStoryEvents } from '../../helpers/stories.js';

const api = startApiUnderTest({ temporal: false });
afterAll(() => api.expectNoSecrets());

/** An error text that needs every CSV escape: a formula start, a comma, a quote, a CR LF and an LF. */
const TRICKY = '=HYPERLINK("http://evil"),"quoted", comma\r\nand\nlines';
const PROFILES = 2_345; // more than two reads of the export's cursor

type Item = Record<string, unknown>;

/** The whole list as JSON, read page by page through next_cursor. */
async function jsonList(path: string, pageSize = 500): Promise<Item[]> {
  const items: Item[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const res = await api.call('GET', `${path}${sep}limit=${pageSize}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status, res.text).toBe(200);
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
  } while (cursor !== null);
  return items;
}

async function download(path: string, headers: Record<string, string> = {}) {
  const res = await api.app.request(path, { headers: { authorization: `Bearer ${API_KEY}`, ...headers } });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), disposition: res.headers.get('content-disposition'), text };
}

/** A CSV export equals the JSON items: the same fields in the same order, each cell the value as text. */
function expectCsvEquals(text: string, items: Item[]): void {
  const { header, rows } = csvObjects(text);
  expect(header).toEqual(Object.keys(items[0]!));
  expect(rows).toHaveLength(items.length);
  rows.forEach((row, i) => expect(row).toEqual(Object.fromEntries(header.map((f) => [f, asCsvText(items[i]![f])]))));
}

/** Every event GET /events lists after `after` with the filter, page after page. */
async function eventList(filter: string, after: number): Promise<Item[]> {
  const items: Item[] = [];
  for (;;) {
    const res = await api.call('GET', `/events?limit=1000&after=${after}${filter}`);
    items.push(...res.body.items);
    if (!res.body.has_more) return items;
    after = res.body.next_after;
  }
}

function ndjsonItems(text: string): Item[] {
  expect(text.endsWith('\n') || text === '').toBe(true);
  return text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Item);
}

let batchId: string;
let niche: string;

beforeEach(async () => {
  niche = await insertNiche(api.db.sql, 'exported');
  batchId = await insertDoneBatch(api.db.sql, 'to export', PROFILES);
  // every third profile in the niche, every fifth with an active story
  await api.db.sql`
    insert into profiles (username, niche_id, active_story)
    select 'user.' || lpad(g::text, 5, '0'), case when g % 3 = 0 then ${niche}::uuid end, g % 5 = 0
    from generate_series(1, ${PROFILES}) g`;
  // results of every kind: completed with and without a story, failed with an error that needs escaping, pending
  await api.db.sql`
    insert into batch_profiles (batch_id, profile_id, ordinal, status, has_story, story_count, error, attempts, duration_ms, checked_at, source)
    select ${batchId}, p.id, row_number() over (order by p.username),
      s.status, case when s.status = 'completed' then p.active_story end, case when s.status = 'completed' then 1 end,
      case when s.status = 'failed' then ${TRICKY} end, 1, case when s.status <> 'pending' then 37 end,
      case when s.status <> 'pending' then now() end, case when s.status = 'completed' then 'upstream' end
    from profiles p
    cross join lateral (select (array['completed', 'completed', 'failed', 'pending'])[1 + (substr(p.username, 6)::int % 4)] as status) s`;
});

describe('a batch’s profiles', () => {
  it('as CSV equals the JSON list read page by page, tricky text included, with its file name', async () => {
    const file = await download(`/batches/${batchId}/profiles?format=csv&limit=3`);
    expect(file.status, file.text.slice(0, 500)).toBe(200);
    expect(file.type).toBe('text/csv; charset=utf-8');
    expect(file.disposition).toBe(`attachment; filename="batch-${batchId}-profiles.csv"`);
    expect(file.text).toContain(`"'=HYPERLINK(""http://evil""),""quoted"", comma\r\nand\nlines"`);
    const items = await jsonList(`/batches/${batchId}/profiles`);
    expect(items).toHaveLength(PROFILES);
    expect(items.some((i) => i.error === TRICKY)).toBe(true);
    expectCsvEquals(file.text, items);
  });

  it('as NDJSON equals the JSON list; the filters apply, paging does not', async () => {
    for (const filter of ['', 'status=failed', 'has_story=true', 'status=completed&has_story=false']) {
      const path = `/batches/${batchId}/profiles${filter ? `?${filter}` : ''}`;
      const file = await download(`${path}${filter ? '&' : '?'}format=ndjson&limit=1&cursor=7`);
      expect(file.status).toBe(200);
      expect(file.type).toBe('application/x-ndjson; charset=utf-8');
      expect(file.disposition).toBe(`attachment; filename="batch-${batchId}-profiles.ndjson"`);
      const items = await jsonList(path);
      expect(items.length, filter).toBeGreaterThan(0);
      expect(ndjsonItems(file.text), filter).toEqual(items);
    }
    const failed = await download(`/batches/${batchId}/profiles?status=failed&format=csv`);
    expectCsvEquals(failed.text, await jsonList(`/batches/${batchId}/profiles?status=failed`));
  });

  it('is chosen by Accept when ?format= is absent; ?format= wins; anything else is the JSON page', async () => {
    const path = `/batches/${batchId}/profiles`;
    expect((await download(path, { accept: 'text/csv' })).type).toBe('text/csv; charset=utf-8');
    expect((await download(path, { accept: 'application/x-ndjson' })).type).toBe('application/x-ndjson; charset=utf-8');
    expect((await download(`${path}?format=ndjson`, { accept: 'text/csv' })).type).toBe('application/x-ndjson; charset=utf-8');
    const page = await download(path, { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' });
    expect(page.type).toContain('application/json');
    expect(JSON.parse(page.text).items).toHaveLength(100);
  });

  it('answers errors as JSON before any file: an unknown batch, an unknown format', async () => {
    expectError(await api.call('GET', '/batches/00000000-0000-4000-8000-000000000000/profiles?format=csv'), 404, 'not_found');
    expectError(await api.call('GET', `/batches/${batchId}/profiles?format=xlsx`), 400, 'validation_error');
  });

  it('answers HEAD with the file’s headers and no body', async () => {
    const res = await api.app.request(`/batches/${batchId}/profiles?format=csv`, { method: 'HEAD', headers: { authorization: `Bearer ${API_KEY}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="batch-${batchId}-profiles.csv"`);
    expect(await res.text()).toBe('');
  });
});

describe('the profile list', () => {
  it('as CSV and NDJSON equals the JSON list, with its filters', async () => {
    for (const filter of ['', `niche_id=${niche}`, 'active_story=true', `niche_id=${niche}&active_story=false&username=USER.01`]) {
      const path = `/profiles${filter ? `?${filter}` : ''}`;
      const items = await jsonList(path, 700);
      expect(items.length, filter).toBeGreaterThan(0);
      const csv = await download(`${path}${filter ? '&' : '?'}format=csv`);
      expect(csv.disposition).toBe('attachment; filename="profiles.csv"');
      expectCsvEquals(csv.text, items);
      const ndjson = await download(path, { accept: 'application/x-ndjson' });
      expect(ndjson.disposition).toBe('attachment; filename="profiles.ndjson"');
      expect(ndjsonItems(ndjson.text)).toEqual(items);
    }
  });

  it('as CSV of no profile at all is its header alone', async () => {
    const file = await download('/profiles?username=nobody.here&format=csv');
    expect(file.text).toBe('id,username,niche_id,active_story,last_story_detected,last_checked_at,total_checks,total_detections,created_at\r\n');
  });
});

describe('story events', () => {
  it('as NDJSON are every matching event after `after`, as GET /events lists them; CSV is refused', async () => {
    const [alice, bob] = await Promise.all([insertProfile(api.db.sql, 'alice', niche), insertProfile(api.db.sql, 'bob')]);
    const batch = await insertDoneBatch(api.db.sql, null);
    await insertCheck(api.db.sql, { batchId: batch, profileId: alice, ordinal: 1, checkedAt: hoursFromNow(-1) });
    const events = Array.from({ length: 1_500 }, (_, i) => ({
      type: i % 2 === 0 ? ('story.posted' as const) : ('story.ended' as const),
      profileId: i % 3 === 0 ? bob : alice,
      itemPk: String(Math.floor(i / 2)),
      batchId: batch,
    }));
    const seqs = await insertStoryEvents(api.db.sql, events);
    const cases: Array<[filter: string, after: number]> = [['', 0], ['', seqs[600]!], [`&niche_id=${niche}&type=story.ended`, 0], [`&profile_id=${bob}`, seqs[10]!]];
    for (const [filter, after] of cases) {
      const file = await download(`/events?format=ndjson&after=${after}${filter}`);
      expect(file.status).toBe(200);
      expect(file.disposition).toBe('attachment; filename="events.ndjson"');
      const items = await eventList(filter, after);
      expect(items.length, filter).toBeGreaterThan(0);
      expect(ndjsonItems(file.text), `${filter} after ${after}`).toEqual(items);
    }
    expectError(await api.call('GET', '/events?format=csv'), 400, 'validation_error');
    expect((await download('/events', { accept: 'text/csv' })).type).toContain('application/json');
  });
});

describe('a download cut short', () => {
  it('gives its Postgres connection back: a small pool serves one cut download after another, then everything else', async () => {
    const small = createSql(api.db.url, { max: 3, acquireTimeoutMs: 2_000 });
    try {
      const app: App = createApp({ sql: small, temporal: unusedTemporal(), config: api.config, logger: createLogger() });
      for (let i = 0; i < 12; i++) {
        const res = await app.request(`/batches/${batchId}/profiles?format=csv`, { headers: { authorization: `Bearer ${API_KEY}` } });
        expect(res.status).toBe(200);
        const reader = res.body!.getReader();
        expect((await reader.read()).done).toBe(false);
        await reader.cancel();
      }
      // a leaked connection each would have left none after two (exports take at most max - 1 at once)
      const whole = await app.request(`/profiles?format=ndjson`, { headers: { authorization: `Bearer ${API_KEY}` } });
      expect(ndjsonItems(await whole.text())).toHaveLength(PROFILES);
      expect((await app.request('/profiles?limit=1', { headers: { authorization: `Bearer ${API_KEY}` } })).status).toBe(200);
    } finally {
      await small.end();
    }
  });
});
