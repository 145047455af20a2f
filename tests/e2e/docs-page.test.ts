/**
 * The API docs page (/docs) in real headless Chromium with no network beyond the API itself: every request to
 * another origin is refused and fails the test, so the page must render Swagger UI from what the API serves.
 * The API runs with a key, and the browser has none: the page and its assets are open, as /docs always was.
 * Temporal is never reached by these routes, so the API is given a client that fails any call.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '../../src/api/server.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logging/logger.js';
import { unusedTemporal } from '../helpers/api.js';
import { launchChromium, WatchedPage } from '../helpers/browser.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const API_KEY = 'docs-page-e2e-key-91d4b7';

let db: TestDatabase | undefined;
let api: RunningApi | undefined;
let browser: Browser | undefined;
let context: BrowserContext;
let watched: WatchedPage;
let page: Page;
/** Every request the page tried to make to another origin (each was refused). */
const foreign: string[] = [];

beforeAll(async () => {
  [db, browser] = await Promise.all([createTestDatabase(), launchChromium()]);
  api = await startApi({
    config: loadConfig({ API_KEY, DATABASE_URL: db.url }),
    sql: db.sql,
    temporal: unusedTemporal(),
    port: 0,
    logger: createLogger({ test: 'docs-page' }),
  });
  const origin = new URL(api.url).origin;
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    foreign.push(url);
    return route.abort('blockedbyclient');
  });
  watched = await WatchedPage.open(context);
  page = watched.page;
});

afterEach(() => {
  expect(foreign.splice(0), 'requests to another origin').toEqual([]);
  const problems = watched?.unexpected() ?? [];
  expect(problems, JSON.stringify(problems, null, 1)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await api?.close();
  await db?.drop();
});

describe('the API docs page', () => {
  it('lists the operations with nothing loaded from another origin, and no key', async () => {
    const res = await page.goto(`${api!.url}/docs`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toMatch(/default-src 'none'.*script-src 'self'/);

    // Swagger UI rendered the API's own document: the /batches operations, and the others around them
    const batches = page.locator('.opblock-summary-path[data-path="/batches"]');
    await expect.poll(() => batches.count(), { timeout: 30_000 }).toBe(2);
    await expect.poll(() => page.locator('.opblock-summary-method').allTextContents()).toEqual(
      expect.arrayContaining(['GET', 'POST', 'PATCH', 'DELETE']),
    );
    await expect.poll(() => page.locator('.opblock-summary-path[data-path="/queue/pause"]').count()).toBe(1);
    expect(await page.locator('.info .title').textContent()).toContain('storycheck');
  });

  it('lets a browser cache the versioned assets for good, and revalidate the rest', async () => {
    const html = await (await fetch(`${api!.url}/docs`)).text();
    const links = [...html.matchAll(/(?:href|src)="(\/docs\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(links).toHaveLength(3);
    for (const link of links) {
      const res = await fetch(api!.url + link);
      expect(res.status, link).toBe(200);
      expect(res.headers.get('cache-control'), link).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('content-type'), link).toMatch(/^text\/(javascript|css); charset=utf-8$/);
      const etag = res.headers.get('etag')!;
      const again = await fetch(api!.url + link, { headers: { 'if-none-match': etag } });
      expect(again.status, link).toBe(304);
    }
    const unversioned = await fetch(`${api!.url}/docs/assets/swagger-ui-bundle.js`);
    expect(unversioned.status).toBe(200);
    expect(unversioned.headers.get('cache-control')).toBe('no-cache');
  });
});
