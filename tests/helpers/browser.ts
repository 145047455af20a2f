/**
 * Real headless Chromium for the dashboard's tests: Debian's `chromium` package driven by playwright-core (no
 * browser download, which would fail offline). Each page records what went wrong on it: console errors,
 * uncaught exceptions, requests that failed and responses of 400 or more, so a test can say that nothing did,
 * or that only what it provoked on purpose did.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: install Debian's package (apt-get install -y chromium) or set CHROMIUM_PATH`);
  }
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

export interface Problem {
  kind: 'console' | 'pageerror' | 'requestfailed' | 'http';
  text: string;
  url: string;
}

/** A page that records its problems; `allow` names those a test provokes on purpose (by URL part and kind). */
export class WatchedPage {
  readonly problems: Problem[] = [];
  private allowed: Array<(p: Problem) => boolean> = [];
  /** While the test reloads the page, whatever it was still fetching ends as aborted: the test's own doing. */
  private reloading = false;

  private constructor(readonly page: Page) {
    page.on('console', (msg) => {
      if (msg.type() === 'error') this.problems.push({ kind: 'console', text: msg.text(), url: msg.location().url ?? '' });
    });
    page.on('pageerror', (err) => this.problems.push({ kind: 'pageerror', text: err.stack ?? err.message, url: page.url() }));
    page.on('requestfailed', (req) => {
      const error = req.failure()?.errorText ?? '';
      // an event stream the page closes when it leaves a batch or the Events page ends as aborted: the page's choice
      if (error === 'net::ERR_ABORTED' && /\/events(\/stream)?$/.test(new URL(req.url()).pathname)) return;
      if (error === 'net::ERR_ABORTED' && this.reloading) return;
      this.problems.push({ kind: 'requestfailed', text: error, url: req.url() });
    });
    page.on('response', (res) => {
      if (res.status() >= 400) this.problems.push({ kind: 'http', text: String(res.status()), url: res.url() });
    });
  }

  static async open(context: BrowserContext): Promise<WatchedPage> {
    return new WatchedPage(await context.newPage());
  }

  /** Reloads the page; the requests the reload cuts short (a poll in flight) are not problems. */
  async reload(): Promise<void> {
    this.reloading = true;
    try {
      await this.page.reload();
    } finally {
      this.reloading = false;
    }
  }

  /** Problems matching `match` (a URL part and, optionally, the HTTP status that goes with it) are expected. */
  allow(urlPart: string, status?: number): void {
    this.allowed.push((p) => p.url.includes(urlPart) && (status === undefined || p.kind !== 'http' || p.text === String(status)));
    // Chromium also logs a failed fetch as a console error naming the status
    if (status !== undefined) this.allowed.push((p) => p.kind === 'console' && p.text.includes(`status of ${status}`));
  }

  /** The problems no test asked for; clears the list and the allowances. */
  unexpected(): Problem[] {
    const left = this.problems.filter((p) => !this.allowed.some((ok) => ok(p)));
    this.problems.length = 0;
    this.allowed = [];
    return left;
  }
}

/**
 * A call to a served API with its key, as a script would make it (what browser tests use to set the scene):
 * the parsed body, or an error naming the route and the answer.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- API bodies are whatever the server returns; each test asserts the fields it relies on
export async function callServedApi(baseUrl: string, key: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
