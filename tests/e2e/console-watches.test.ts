/// <reference lib="dom" />
/**
 * The console's Watches and Webhooks pages, in real headless Chromium against the real stack (the API with a
 * key, a worker on a Temporal dev server, whose Schedules the watches are, the webhook dispatcher, and a
 * database of the file's own), with the local receiver of `npm run dev` as the webhook endpoint: it verifies
 * every signature over real HTTP with the secret the page showed.
 *
 * With UPDATE_SCREENSHOTS=1 the two pages are saved to docs/screenshots.
 */
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningApi } from '../../src/api/server.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../src/dev/webhook-receiver.js';
import { createLogger } from '../../src/logging/logger.js';
import { startWebhookDispatcher, type WebhookDispatcher } from '../../src/worker/webhook-dispatcher.js';
import { callServedApi, launchChromium, WatchedPage } from '../helpers/browser.js';
import { startServedStack, type ServedStack } from '../helpers/served-stack.js';
import { usernames } from '../helpers/stack.js';

const API_KEY = 'console-watches-key-7c2e1a';
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS ? join(import.meta.dirname, '../../docs/screenshots') : null;

// API bodies are whatever the server returns; each test asserts the fields it relies on
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

let served: ServedStack | undefined;
let api: RunningApi;
let dispatcher: WebhookDispatcher | undefined;
let receiver: WebhookReceiver | undefined;
let browser: Browser;
let context: BrowserContext;
let watched: WatchedPage;
let page: Page;

beforeAll(async () => {
  [served, browser, receiver] = await Promise.all([
    startServedStack({
      prefix: 'console-watches',
      proxies: 2,
      sim: { latencyMs: 10, jitterMs: 5 },
      env: { API_KEY, WEBHOOK_ALLOW_HOSTS: '127.0.0.1', WEBHOOK_RETRY_INITIAL_MS: '500', WEBHOOK_DISPATCH_INTERVAL_MS: '500' },
    }),
    launchChromium(),
    startWebhookReceiver({ host: '127.0.0.1' }),
  ]);
  api = served.api;
  const { stack, env } = served;
  dispatcher = startWebhookDispatcher({
    sql: stack.db.sql,
    temporal: env.client,
    taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
    config: stack.config,
    logger: createLogger({ test: 'console-watches' }),
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: api.url });
  watched = await WatchedPage.open(context);
  page = watched.page;
  // the pages confirm what cannot be undone (delete, rotate): the test says yes
  page.on('dialog', (dialog) => void dialog.accept());
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
  await dispatcher?.stop();
  await served?.close();
  await receiver?.close();
});

const call = (method: string, path: string, body?: unknown): Promise<Json> => callServedApi(api.url, API_KEY, method, path, body);

async function go(hash: string): Promise<void> {
  await page.goto(`${api.url}/#${hash}`);
  await page.locator('main#main').waitFor();
  await expect.poll(() => page.locator('main#main').getByText(/^Loading .*…$/).count()).toBe(0);
}

async function screenshot(name: string): Promise<void> {
  if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

describe('the console on watches and webhooks', () => {
  it('creates a watch over a niche, shows its next runs, runs it now into a batch, pauses, resumes and deletes it', async () => {
    const niche = await call('POST', '/niches', { name: 'watched niche' });
    await call('POST', '/profiles', { usernames: usernames(4, 'watched'), niche_id: niche.id });

    await go('/watches');
    await page.getByRole('link', { name: 'Watches', exact: true }).waitFor();
    const form = page.getByRole('form', { name: 'New watch' });
    await form.getByLabel('Name', { exact: true }).fill('hourly watch');
    await form.getByLabel('Niche', { exact: true }).selectOption(niche.id);
    await form.getByLabel('Every (seconds)').fill('3600');
    await form.getByRole('button', { name: 'Create watch' }).click();

    const row = page.locator('[aria-label="Watches"] tr[data-watch-name="hourly watch"]');
    await row.waitFor();
    const [watch] = (await call('GET', '/watches')).items as Json[];
    expect(watch).toMatchObject({ name: 'hourly watch', niche_id: niche.id, every_s: 3600, paused: false });
    expect(await row.textContent()).toContain('niche watched niche');
    expect(await row.textContent()).toContain('every 1 h 0 min');
    expect(await row.textContent()).toContain('no tick yet');
    // the Schedule's next times, from its description
    await expect.poll(() => row.getByRole('list', { name: 'Next runs of hourly watch' }).locator('li').count()).toBeGreaterThan(0);

    // run now: a tick through the Schedule, which creates and queues one batch of the niche's profiles
    await row.getByRole('button', { name: 'Run now' }).click();
    await expect.poll(() => row.locator('.badge-created').count(), { timeout: 30_000 }).toBe(1);
    const batchLink = row.getByRole('link', { name: /^hourly watch / });
    await batchLink.waitFor();
    const batches = (await call('GET', `/batches?watch_id=${watch.id}`)).items as Json[];
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ watch_id: watch.id, total_profiles: 4 });
    expect(await batchLink.getAttribute('href')).toBe(`#/batches/${batches[0].id}`);
    await screenshot('watches');

    await row.getByRole('button', { name: 'Pause' }).click();
    await row.locator('.badge-paused').waitFor();
    expect((await call('GET', `/watches/${watch.id}`)).paused).toBe(true);
    await row.getByRole('button', { name: 'Resume' }).click();
    await row.locator('.badge-watching').waitFor();
    expect((await call('GET', `/watches/${watch.id}`)).paused).toBe(false);

    await row.getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached' });
    expect((await call('GET', '/watches')).items).toEqual([]);
    // its batch stays
    expect((await call('GET', `/batches/${batches[0].id}`)).watch_id).toBeNull();
  });

  it('creates a webhook showing its secret once, tests it, shows the verified delivery with its attempts, redelivers it and rotates the secret', async () => {
    await go('/webhooks');
    const form = page.getByRole('form', { name: 'New webhook' });
    await form.getByLabel('URL').fill(receiver!.url);
    await form.getByLabel('Description (optional)').fill('the test receiver');
    await form.getByRole('button', { name: 'Create webhook' }).click();

    // the secret, once, with a copy button that puts it in the clipboard
    const reveal = page.getByRole('region', { name: 'Signing secret' });
    const secret = (await reveal.locator('code').textContent())!.trim();
    expect(secret).toMatch(/^whsec_/);
    await reveal.getByRole('button', { name: 'Copy secret' }).click();
    await reveal.getByRole('button', { name: 'Copied' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    receiver!.setSecrets([secret]);
    await reveal.getByRole('button', { name: 'I have stored it' }).click();
    await reveal.waitFor({ state: 'detached' });
    const [webhook] = (await call('GET', '/webhooks')).items as Json[];
    expect(webhook).toMatchObject({ url: receiver!.url, enabled: true, description: 'the test receiver' });
    expect(JSON.stringify(webhook)).not.toContain(secret);
    // gone for good: neither the page nor the API shows it again
    await watched.reload();
    await page.locator(`[aria-label="Webhooks"] tr[data-webhook-id="${webhook.id}"]`).waitFor();
    expect(await page.content()).not.toContain(secret);

    // a ping, seen on the endpoint's deliveries page as delivered, and by the receiver as verified
    const row = page.locator(`[aria-label="Webhooks"] tr[data-webhook-id="${webhook.id}"]`);
    await row.getByRole('button', { name: 'Test' }).click();
    await row.getByRole('link', { name: 'Deliveries' }).click();
    await page.getByRole('heading', { name: `Webhook to ${receiver!.url}` }).waitFor();
    const deliveries = page.locator('[aria-label="Deliveries"] tbody tr[data-delivery-id]');
    await expect.poll(() => deliveries.count(), { timeout: 15_000 }).toBe(1);
    await expect.poll(() => deliveries.first().locator('.badge').textContent(), { timeout: 30_000 }).toBe('delivered');
    const pings = () => receiver!.received().filter((r) => r.type === 'ping');
    expect(pings()).toHaveLength(1);
    expect(pings()[0]).toMatchObject({ verified: true, body: { data: { webhook_id: webhook.id } } });
    const messageId = pings()[0]!.webhook_id;

    await deliveries.first().getByRole('button', { name: 'Attempts' }).click();
    const attempts = page.getByRole('region', { name: 'Attempts' }).locator('tbody tr');
    await expect.poll(() => attempts.count()).toBe(1);
    expect(await attempts.first().locator('td').nth(3).textContent()).toBe('204');
    expect(await page.getByText(messageId!).count()).toBe(1);
    await screenshot('webhook');

    // redeliver: a new delivery of the same message, which the receiver verifies again
    await deliveries.first().getByRole('button', { name: 'Redeliver' }).click();
    await expect.poll(() => deliveries.count(), { timeout: 15_000 }).toBe(2);
    await expect.poll(() => deliveries.first().locator('.badge').textContent(), { timeout: 30_000 }).toBe('delivered');
    expect(await deliveries.first().textContent()).toContain('redelivery');
    await expect.poll(() => pings().length).toBe(2);
    expect(pings()[0]).toMatchObject({ webhook_id: messageId, verified: true });

    // rotation: a new secret, shown once; a receiver that still holds the old one verifies meanwhile
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    const rotated = (await page.getByRole('region', { name: 'Signing secret' }).locator('code').textContent())!.trim();
    expect(rotated).toMatch(/^whsec_/);
    expect(rotated).not.toBe(secret);
    await page.getByRole('button', { name: 'Test' }).click();
    await expect.poll(() => pings().length, { timeout: 30_000 }).toBe(3);
    expect(pings()[0]!.verified).toBe(true);
    receiver!.setSecrets([rotated]);
    await page.getByRole('button', { name: 'Test' }).click();
    await expect.poll(() => pings().length, { timeout: 30_000 }).toBe(4);
    expect(pings()[0]!.verified).toBe(true);
    expect((await call('GET', `/webhooks/${webhook.id}`)).secret_rotated_at).not.toBeNull();
  });
});
