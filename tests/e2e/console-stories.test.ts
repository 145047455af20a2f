/// <reference lib="dom" />
/**
 * The console's pages about stories remembered, in real headless Chromium against the real stack (the API with
 * a key, a worker on a Temporal dev server, a database of the file's own): a profile's page with its story
 * timeline and its checks, the Events page following the event stream, and an export downloaded by the browser.
 * Batches run for real; the story items and events a check would record are inserted with SQL, so that each test
 * knows exactly which ones it looks for.
 *
 * With UPDATE_SCREENSHOTS=1 the profile and events pages are saved to docs/screenshots (the README shows them).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningApi } from '../../src/api/server.js';
import { launchChromium, WatchedPage, callServedApi } from '../helpers/browser.js';
import { parseCsv, unescapeFormula } from '../helpers/csv.js';
import { startServedStack, type ServedStack } from '../helpers/served-stack.js';
import { usernames, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const API_KEY = 'console-stories-key-4b1d9e';
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS ? join(import.meta.dirname, '../../docs/screenshots') : null;
const HOUR_MS = 3_600_000;

// API bodies are whatever the server returns; each test asserts the fields it relies on
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

let served: ServedStack | undefined;
let stack: Stack;
let api: RunningApi;
let browser: Browser;
let context: BrowserContext;
let watched: WatchedPage;
let page: Page;

beforeAll(async () => {
  [served, browser] = await Promise.all([
    startServedStack({ prefix: 'console-stories', proxies: 2, sim: { latencyMs: 20, jitterMs: 5 }, env: { API_KEY, CHECK_CHUNK_SIZE: '5' } }),
    launchChromium(),
  ]);
  ({ stack, api } = served);
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  watched = await WatchedPage.open(context);
  page = watched.page;
  await page.goto(`${api.url}/`);
  await page.getByLabel('API key').fill(API_KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Queue', exact: true }).waitFor();
});

afterEach(() => {
  const problems = watched?.unexpected() ?? [];
  expect(problems, JSON.stringify(problems, null, 1)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
});

const call = (method: string, path: string, body?: unknown): Promise<Json> => callServedApi(api.url, API_KEY, method, path, body);

async function go(hash: string): Promise<void> {
  await page.goto(`${api.url}/#${hash}`);
  await page.locator('main#main').waitFor();
}

async function pageLoaded(): Promise<void> {
  await expect.poll(() => page.locator('main#main').getByText(/^Loading .*…$/).count()).toBe(0);
}

async function screenshot(name: string): Promise<void> {
  if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/** A batch over `names`, run to the end. */
async function runBatch(name: string, names: string[]): Promise<Json> {
  const batch = await call('POST', '/batches', { name, usernames: names });
  await waitFor(async () => (await call('GET', `/batches/${batch.id}`)).status === 'done', { timeoutMs: 60_000, what: `batch ${name} done` });
  return batch;
}

/** A story item as a check records it, its times relative to now (in hours; negative: in the past). */
async function insertItem(item: { profileId: string; pk: string; taken: number; expires: number; ended?: number; media: string | null; batchId: string }) {
  const at = (hours: number) => new Date(Date.now() + hours * HOUR_MS);
  await stack.db.sql`
    insert into story_items (profile_id, item_pk, taken_at, expiring_at, media_type, first_seen_at, first_seen_batch_id,
                             last_seen_at, last_seen_batch_id, ended_at)
    values (${item.profileId}, ${item.pk}, ${at(item.taken)}, ${at(item.expires)}, ${item.media}, ${at(item.taken + 0.1)},
            ${item.batchId}, ${at(item.taken + 0.5)}, ${item.batchId}, ${item.ended === undefined ? null : at(item.ended)})`;
}

/** A story event as a check records it, committed now. */
async function insertEvent(profileId: string, type: 'story.posted' | 'story.ended', itemPk: string) {
  const now = new Date();
  const details = { taken_at: now.toISOString(), expiring_at: new Date(now.getTime() + 24 * HOUR_MS).toISOString(), media_type: 'image' };
  await stack.db.sql`
    insert into story_events (type, profile_id, item_pk, occurred_at, details)
    values (${type}, ${profileId}, ${itemPk}, ${now}, ${stack.db.sql.json(details)})`;
}

/** Nothing on the page is wider than a phone: wide tables scroll inside their own box. */
async function fitsAPhone(): Promise<void> {
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    await expect.poll(() => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
}

const itemsShown = () => page.locator('[aria-label="Story events"] tbody tr td.mono').allTextContents();

describe('the console on stories remembered', () => {
  it("shows a profile's story timeline and its checks, reached from the profile list and a batch's results", async () => {
    const batch = await runBatch('timeline run', usernames(3, 'timeline'));
    const [row] = (await call('GET', `/batches/${batch.id}/profiles?limit=1`)).items;
    await insertItem({ profileId: row.profile_id, pk: 'tl-live', taken: -1, expires: 23, media: 'video', batchId: batch.id });
    await insertItem({ profileId: row.profile_id, pk: 'tl-gone', taken: -30, expires: -6, ended: -26, media: 'image', batchId: batch.id });
    await insertItem({ profileId: row.profile_id, pk: 'tl-expired', taken: -50, expires: -26, media: null, batchId: batch.id });

    // the profile list links the username to the profile's page
    await go('/profiles');
    await page.getByLabel('Username', { exact: true }).fill(row.username);
    await page.getByRole('link', { name: row.username, exact: true }).click();
    await page.waitForURL(new RegExp(`#/profiles/${row.profile_id}$`));
    await page.getByRole('heading', { name: row.username, exact: true }).waitFor();
    await pageLoaded();

    // the timeline is the API's, newest first, each item live or ended, linked to the batch that saw it
    const stories = (await call('GET', `/profiles/${row.profile_id}/stories?limit=100`)).items as Json[];
    const timeline = page.locator('[aria-label="Story items"] tbody tr');
    await expect.poll(() => timeline.count()).toBe(stories.length);
    expect(await timeline.locator('td.mono').allTextContents()).toEqual(stories.map((s) => s.item_pk));
    const item = (pk: string) => page.locator(`[aria-label="Story items"] tr[data-item-pk="${pk}"]`);
    expect(await item('tl-live').locator('.badge').textContent()).toBe('live');
    expect(await item('tl-live').textContent()).toContain('video');
    expect(await item('tl-gone').locator('.badge').textContent()).toBe('ended');
    expect(await item('tl-expired').locator('.badge').textContent()).toBe('ended');
    // an item nobody saw go ended when it expired
    const expired = stories.find((s) => s.item_pk === 'tl-expired');
    expect(expired).toMatchObject({ status: 'ended', ended_at: expired.expiring_at });
    for (const link of await item('tl-gone').getByRole('link').all()) expect(await link.getAttribute('href')).toBe(`#/batches/${batch.id}`);

    // the checks: this batch's, linked to it
    const check = page.locator(`[aria-label="Checks of this profile"] tr[data-batch-id="${batch.id}"]`);
    expect(await check.getByRole('link', { name: 'timeline run' }).getAttribute('href')).toBe(`#/batches/${batch.id}`);
    expect(await check.locator('.badge').textContent()).toBe('completed');
    await screenshot('profile');
    await fitsAPhone();

    // and back: the batch's results link each username to the profile's page
    await check.getByRole('link', { name: 'timeline run' }).click();
    const result = page.locator('[aria-label="Per-profile results"]').getByRole('link', { name: row.username, exact: true });
    expect(await result.getAttribute('href')).toBe(`#/profiles/${row.profile_id}`);
  });

  it('opens the Events page on the newest events, shows each new one as it is committed, and follows one niche', async () => {
    const niche = await call('POST', '/niches', { name: 'night owls' });
    const [inNiche] = (await call('POST', '/profiles', { usernames: usernames(1, 'owl'), niche_id: niche.id })).items;
    const [other] = (await call('POST', '/profiles', { usernames: usernames(1, 'lark') })).items;
    await insertEvent(other.id, 'story.posted', 'ev-before');

    await go('/events');
    // recorded before the page opened: there on arrival
    await expect.poll(itemsShown).toContain('ev-before');
    await page.locator('.page-head .badge', { hasText: 'live' }).waitFor();

    // committed while it is open: at the top, linked to its profile
    await insertEvent(inNiche.id, 'story.posted', 'ev-while-open');
    await expect.poll(async () => (await itemsShown())[0], { timeout: 10_000 }).toBe('ev-while-open');
    const top = page.locator('[aria-label="Story events"] tbody tr').first();
    expect(await top.getByRole('link', { name: inNiche.username }).getAttribute('href')).toBe(`#/profiles/${inNiche.id}`);
    expect(await top.locator('.badge').textContent()).toBe('posted');

    // one niche: the stream is opened again for it, and only its profiles' events show
    const streams: string[] = [];
    page.on('request', (r) => void (new URL(r.url()).pathname === '/events/stream' && streams.push(r.url())));
    await page.getByLabel('Niche').selectOption(niche.id);
    await expect.poll(itemsShown).toEqual(['ev-while-open']);
    await page.locator('.page-head .badge', { hasText: 'live' }).waitFor();
    await insertEvent(other.id, 'story.ended', 'ev-other-niche');
    await insertEvent(inNiche.id, 'story.ended', 'ev-in-niche');
    await expect.poll(itemsShown, { timeout: 10_000 }).toEqual(['ev-in-niche', 'ev-while-open']);
    expect(streams.some((url) => new URL(url).searchParams.get('niche_id') === niche.id)).toBe(true);
    await screenshot('events');
    await fitsAPhone();
  });

  it("downloads a batch's results as CSV, with the filters on screen", async () => {
    const batch = await runBatch('export run', usernames(12, 'export'));
    await go(`/batches/${batch.id}`);
    await pageLoaded();
    await page.getByLabel('Status', { exact: true }).selectOption('completed');
    const csvLink = page.getByRole('group', { name: 'Export results' }).getByRole('link', { name: 'CSV' });
    expect(new URL((await csvLink.getAttribute('href'))!, api.url).searchParams.get('status')).toBe('completed');
    const [download] = await Promise.all([page.waitForEvent('download'), csvLink.click()]);
    expect(download.suggestedFilename()).toBe(`batch-${batch.id}-profiles.csv`);
    const rows = parseCsv(await readFile((await download.path())!, 'utf8')).map((row) => row.map(unescapeFormula));

    const expected = (await call('GET', `/batches/${batch.id}/profiles?status=completed&limit=1000`)).items as Json[];
    expect(expected.length).toBeGreaterThan(0);
    expect(rows[0]).toEqual(Object.keys(expected[0]));
    expect(rows.length - 1).toBe(expected.length);
    const usernameColumn = rows[0]!.indexOf('username');
    expect(rows.slice(1).map((r) => r[usernameColumn]).sort()).toEqual(expected.map((p) => p.username).sort());
  });
});
