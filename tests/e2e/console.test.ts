/// <reference lib="dom" />
// (the functions given to page.evaluate run in the browser)
/**
 * The dashboard in real headless Chromium against the real stack, in-process: the API (with a key) on a port,
 * a worker on a Temporal dev server, a database of the file's own, the upstream simulator and two forward
 * proxies. Everything is done as a person would: typing, clicking, reading what the page shows; the API is
 * called directly only to set a scene (batches that keep the queue busy, proxies switched off).
 *
 * With UPDATE_SCREENSHOTS=1 the last test saves each page to docs/screenshots (the README shows them).
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningApi } from '../../src/api/server.js';
import { launchChromium, WatchedPage, callServedApi } from '../helpers/browser.js';
import { startServedStack, type ServedStack } from '../helpers/served-stack.js';
import { usernames, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const API_KEY = 'console-e2e-key-5c2e8a';
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS ? join(import.meta.dirname, '../../docs/screenshots') : mkdtempSync(join(tmpdir(), 'console-shots-'));

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
    startServedStack({
      prefix: 'console',
      proxies: 2,
      sim: { latencyMs: 60, jitterMs: 20 },
      env: {
        API_KEY,
        TEMPORAL_UI_URL: 'http://127.0.0.1:8233',
        CHECK_CHUNK_SIZE: '5',
        BATCH_CONCURRENCY: '2',
        BATCH_STALL_AFTER_MS: '1500',
      },
    }),
    launchChromium(),
  ]);
  ({ stack, api } = served);
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  watched = await WatchedPage.open(context);
  page = watched.page;
});

afterEach(() => {
  // nothing went wrong on the page that the test did not provoke itself
  const problems = watched?.unexpected() ?? [];
  expect(problems, JSON.stringify(problems, null, 1)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
});

const call = (method: string, path: string, body?: unknown): Promise<Json> => callServedApi(api.url, API_KEY, method, path, body);

/** The simulator answers this slowly from now on (so a batch runs long enough to be watched). */
async function upstreamLatency(ms: number): Promise<void> {
  const res = await fetch(`${stack.sim.url}/__sim/options`, { method: 'POST', body: JSON.stringify({ latencyMs: ms, jitterMs: 0 }) });
  expect(res.status).toBe(200);
}

async function go(hash: string): Promise<void> {
  await page.goto(`${api.url}/#${hash}`);
  await page.locator('main#main').waitFor();
}

/** Waits until the page shows what it loaded: no "Loading …" line left in it. */
async function pageLoaded(): Promise<void> {
  await expect.poll(() => page.locator('main#main').getByText(/^Loading .*…$/).count()).toBe(0);
}

/** Cancels whatever is queued, running or paused, so the next test starts from an idle queue. */
async function settleQueue(): Promise<void> {
  for (const status of ['running', 'queued', 'paused']) {
    for (const b of (await call('GET', `/batches?status=${status}&limit=100`)).items) await call('POST', `/batches/${b.id}/cancel`);
  }
  await waitFor(async () => (await call('GET', '/queue')).running === null, { timeoutMs: 30_000, what: 'an idle queue' });
}

const queuedNames = () => page.locator('[aria-label="Queued batches"] tbody tr td:nth-child(2)').allTextContents();

describe('the console in Chromium', () => {
  it('asks for the key once, refuses a wrong one, and keeps an httpOnly SameSite=Strict cookie', async () => {
    await page.goto(`${api.url}/`);
    await page.getByLabel('API key').fill('not-the-key');
    watched.allow('/console/login', 401);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('.field-error').textContent()).toBe('That is not the API key.');

    await page.getByLabel('API key').fill(API_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Queue', exact: true }).waitFor();
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'storycheck_session', httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.value).not.toContain(API_KEY);
    // scripts cannot read it, and a reload stays signed in
    expect(await page.evaluate(() => document.cookie)).toBe('');
    await watched.reload();
    await page.getByRole('heading', { name: 'Queue', exact: true }).waitFor();
  });

  it('creates a batch from pasted usernames, shows the validation error next to the field, and watches it finish live', async () => {
    await upstreamLatency(250);
    const names = usernames(40, 'live');
    await go('/batches');
    // an invalid username: the API's message appears under the field, and nothing is created
    await page.getByLabel('Usernames', { exact: true }).fill(`@${names[0]}, not a valid name!`);
    watched.allow('/batches', 400);
    await page.getByRole('button', { name: 'Create batch' }).click();
    const fieldError = page.locator('#batch-usernames-error');
    await expect.poll(() => fieldError.textContent()).toMatch(/invalid username/);

    // one per line, commas, spaces, leading @ and capitals: all accepted
    const pasted = `@${names[0]!.toUpperCase()}\n${names.slice(1, 20).join(', ')}\n${names.slice(20).map((n) => `@${n}`).join(' ')}`;
    await page.getByLabel('Usernames', { exact: true }).fill(pasted);
    await page.getByLabel('Name (optional)').fill('pasted in the console');
    const streams: string[] = [];
    const onRequest = (r: { url(): string }) => void (r.url().endsWith('/events') && streams.push(new URL(r.url()).pathname));
    page.on('request', onRequest);
    await page.getByRole('button', { name: 'Create batch' }).click();
    await page.waitForURL(/#\/batches\/[0-9a-f-]{36}$/);
    const batchId = /#\/batches\/([0-9a-f-]{36})$/.exec(page.url())![1]!;
    const batch = await call('GET', `/batches/${batchId}`);
    expect(batch).toMatchObject({ name: 'pasted in the console', total_profiles: 40 });

    // the page's first readings are on screen before shifts are watched: a table taking the place of its
    // "Loading …" line is the page arriving (late on a busy machine), not a live number moving
    await pageLoaded();
    // the page is not reloaded from here on: a marker set now survives, and every number seen comes from the stream
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { __seen: string[]; __marker: boolean }).__seen = seen;
      (window as unknown as { __marker: boolean }).__marker = true;
      let shift = 0;
      const moved: string[] = [];
      (window as unknown as { __moved: string[] }).__moved = moved;
      type Shift = PerformanceEntry & { value: number; hadRecentInput: boolean; sources: Array<{ node?: Node }> };
      new PerformanceObserver((list) => {
        for (const e of list.getEntries() as Shift[]) {
          if (e.hadRecentInput) continue;
          shift += e.value;
          for (const source of e.sources) {
            const el = source.node as HTMLElement | undefined;
            moved.push(`${e.value.toFixed(3)} ${el?.nodeName ?? '?'}.${el?.className ?? ''} ${(el?.textContent ?? '').slice(0, 40)}`);
          }
        }
        (window as unknown as { __shift: number }).__shift = shift;
      }).observe({ type: 'layout-shift', buffered: false });
      const record = () => {
        const text = document.querySelector('.progress-text')?.textContent;
        if (text && seen[seen.length - 1] !== text) seen.push(text);
      };
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
      record();
    });
    await page.locator('.page-head .badge-done').waitFor({ timeout: 60_000 });
    await expect.poll(() => page.locator('.progress-text').textContent()).toContain('40 / 40');
    const state = await page.evaluate(() => {
      const w = window as unknown as { __seen: string[]; __marker?: boolean; __shift?: number; __moved: string[] };
      return { __seen: w.__seen, __marker: w.__marker, __shift: w.__shift, __moved: w.__moved };
    });
    expect(state.__marker).toBe(true);
    // the numbers came over the batch's event stream, and moved through partial counts on the way
    page.off('request', onRequest);
    expect(streams).toContain(`/batches/${batchId}/events`);
    const partial = state.__seen.filter((t) => /^\s*(\d+) \/ 40/.test(t) && !t.startsWith('40 /'));
    expect(partial.length, state.__seen.join(' | ')).toBeGreaterThan(0);
    // live numbers change in place: nothing on screen moved while they did
    expect(state.__shift ?? 0, state.__moved.join('\n')).toBeLessThan(0.05);

    // the results and the logs are there, filtered as asked
    const final = await call('GET', `/batches/${batchId}`);
    await page.getByLabel('Story', { exact: true }).selectOption('true');
    await expect.poll(() => page.locator('[aria-label="Per-profile results"] tbody tr').count()).toBe(final.stories_found);
    await page.locator('input[name="log-mode"]').nth(1).check();
    await page.getByLabel('Event', { exact: true }).selectOption('BATCH_COMPLETED');
    await expect.poll(() => page.locator('[aria-label="Log events"] tbody tr').count()).toBe(1);
    // and the workflow is one click away in the Temporal Web UI
    expect(await page.getByRole('link', { name: 'Workflow in the Temporal Web UI' }).getAttribute('href')).toBe(
      `http://127.0.0.1:8233/namespaces/default/workflows/${encodeURIComponent(final.workflow_id)}`,
    );
  });

  it('pauses and resumes a running batch from the page, and the queue reorders', async () => {
    await upstreamLatency(300);
    const first = await call('POST', '/batches', { name: 'first', usernames: usernames(200, 'first') });
    await call('POST', '/batches', { name: 'second', usernames: usernames(300, 'second') });
    await call('POST', '/batches', { name: 'third', usernames: usernames(100, 'third') });
    await waitFor(async () => (await call('GET', `/batches/${first.id}`)).status === 'running', 30_000);

    await go('/');
    const running = page.getByLabel('Running batch');
    await expect.poll(() => running.locator('h2').textContent()).toBe('Running: first');
    await expect.poll(queuedNames).toEqual(['second', 'third']);

    // the buttons are the actions the API offers for the batch's status
    expect(await running.locator('.actions button').allTextContents()).toEqual(['Pause', 'Cancel']);
    await running.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => running.locator('h2').textContent(), { timeout: 30_000 }).toBe('Running: second');
    await expect.poll(queuedNames).toEqual(['third']);
    const paused = page.locator('[aria-label="Paused batches"] tbody tr', { hasText: 'first' });
    await paused.waitFor();
    expect(await paused.getByRole('button').allTextContents()).toEqual(['Resume', 'Start now', 'Cancel']);

    // resumed, it goes back behind every batch of its priority already queued
    await paused.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(queuedNames, { timeout: 15_000 }).toEqual(['third', 'first']);
    expect((await call('GET', `/batches/${first.id}`)).position).toBe(2);
    await settleQueue();
  });

  it('shows why a batch is stalled, in words, and the batch goes on once a proxy is enabled from the page', async () => {
    await upstreamLatency(20);
    const proxies = (await call('GET', '/proxies')).items as Json[];
    for (const p of proxies) await call('PATCH', `/proxies/${p.id}`, { status: 'disabled' });
    const batch = await call('POST', '/batches', { name: 'no proxy left', usernames: usernames(10, 'stall') });

    await go('/');
    const stall = page.getByLabel('Running batch').locator('.stall');
    await expect.poll(() => stall.textContent(), { timeout: 30_000 }).toMatch(/Stalled.*No proxy can send: every proxy is disabled or resting/);

    await go('/proxies');
    for (const p of proxies) {
      const row = page.locator(`tr[data-proxy-url="${p.url}"]`);
      await row.getByRole('button', { name: 'Enable' }).click();
      await expect.poll(() => row.locator('.badge').textContent()).toBe('active');
    }

    await go(`/batches/${batch.id}`);
    await page.locator('.page-head .badge-done').waitFor({ timeout: 60_000 });
    expect(await page.locator('.stall').count()).toBe(0);
  });

  it('adds a proxy without ever showing its password, disables it, and deletes it', async () => {
    const password = 'console-proxy-secret-71ab';
    await go('/proxies');
    await page.getByLabel('URL').fill(`http://console-user:${password}@127.0.0.1:9`);
    await page.getByRole('button', { name: 'Add proxy' }).click();
    const row = page.locator('tr[data-proxy-url="http://127.0.0.1:9"]');
    await row.waitFor();
    expect(await page.content()).not.toContain(password);

    await row.getByRole('button', { name: 'Disable' }).click();
    await expect.poll(() => row.locator('.badge').textContent()).toBe('disabled');
    expect(await row.textContent()).toContain('by an operator');
    const stored = ((await call('GET', '/proxies')).items as Json[]).find((p) => p.url === 'http://127.0.0.1:9');
    expect(stored).toMatchObject({ status: 'disabled', disabled_reason: 'operator' });

    page.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached' });
    expect(((await call('GET', '/proxies')).items as Json[]).some((p) => p.url === 'http://127.0.0.1:9')).toBe(false);
  });

  it('shows an API error as a readable message, never a blank page', async () => {
    await upstreamLatency(300);
    const busy = await call('POST', '/batches', { name: 'busy', usernames: usernames(200, 'busy') });
    await waitFor(async () => (await call('GET', `/batches/${busy.id}`)).status === 'running', 30_000);
    const waiting = await call('POST', '/batches', { name: 'waiting', usernames: usernames(5, 'waiting') });
    await go('/');
    // "Start now" on a queued batch while another runs: the API answers 409 batch_running
    watched.allow(`/batches/${waiting.id}/start`, 409);
    await page.locator(`tr[data-batch-id="${waiting.id}"]`).getByRole('button', { name: 'Start now' }).click();
    await expect.poll(() => page.locator('.notices .note-error').textContent()).toMatch(/^Another batch is running/);
    await settleQueue();

    // a missing batch: the page says so
    watched.allow('/batches/00000000-0000-4000-8000-000000000000', 404);
    await go('/batches/00000000-0000-4000-8000-000000000000');
    await expect.poll(() => page.locator('.note-error').first().textContent()).toMatch(/not found|no batch/i);

    // the network goes away: an action says so in a sentence, and the page stays as it was
    await go('/');
    await page.getByRole('button', { name: 'Pause queue' }).waitFor();
    watched.allow(api.url); // every request fails while offline, the queue's polling too
    await context.setOffline(true);
    try {
      await page.getByRole('button', { name: 'Pause queue' }).click();
      await expect.poll(() => page.locator('.notices .note-error').last().textContent()).toMatch(/^The server cannot be reached/);
      expect(await page.getByRole('heading', { name: 'Queue', exact: true }).isVisible()).toBe(true);
    } finally {
      await context.setOffline(false);
    }
    expect((await call('GET', '/queue')).paused).toBe(false);
  });

  it('shows every page without an error at 1280×800 and at phone width, and saves screenshots', async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await upstreamLatency(400);
    await call('POST', '/niches', { name: 'travel' }).catch(() => null);
    const running = await call('POST', '/batches', { name: 'spring re-check', usernames: usernames(300, 'spring') });
    await call('POST', '/batches', { name: 'new followers', priority: 1, usernames: usernames(80, 'followers') });
    await call('POST', '/batches', { name: 'weekly travel', usernames: usernames(120, 'travel') });
    await waitFor(async () => (await call('GET', `/batches/${running.id}`)).completed_profiles >= 20, 60_000);

    const pages: Array<[string, string]> = [
      ['queue', '/'],
      ['batches', '/batches'],
      ['batch', `/batches/${running.id}`],
      ['profiles', '/profiles'],
      ['niches', '/niches'],
      ['proxies', '/proxies'],
    ];
    for (const [name, hash] of pages) {
      await go(hash);
      await pageLoaded();
      // for the README's pictures, two progress readings, so that the rate shows
      if (process.env.UPDATE_SCREENSHOTS) await page.waitForTimeout(2_500);
      await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
    }
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [name, hash] of pages) {
      await go(hash);
      await pageLoaded();
      // nothing is wider than the phone: wide tables scroll inside their own box
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, name).toBeLessThanOrEqual(0);
      if (name === 'queue' || name === 'batch') await page.screenshot({ path: join(SCREENSHOTS, `phone-${name}.png`) });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    // keyboard users see where they are
    await go('/batches');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    expect(outline).not.toBe('none');

    // signing out forgets the cookie and shows the key form again
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await context.cookies()).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, 'sign-in.png') });
    await settleQueue();
  });
});
