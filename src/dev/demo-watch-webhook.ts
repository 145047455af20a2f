/**
 * The demo watch and the demo webhook of `npm run dev`, made through the API the run serves (as a user would
 * make them, so the Schedule and the secret are made by the product's own code):
 * - the demo watch re-checks the first demo niche every minute; it is created once and then kept as it is
 *   (a person may have paused it or changed its cadence), found again by its name;
 * - the demo webhook sends every event type to the local receiver. A secret is shown only when it is made, so
 *   each run deletes the previous demo webhook (found by its description) and creates a new one, whose secret
 *   the receiver verifies with.
 */
import { WEBHOOK_EVENT_TYPES } from '../enums.js';

export const DEMO_WATCH_NAME = 'demo watch';
const DEMO_WATCH_EVERY_S = 60;
/** How a later run recognises the demo webhook it replaces; webhooks made by hand are left alone. */
export const DEMO_WEBHOOK_DESCRIPTION = 'npm run dev: the local receiver (replaced on each start)';

/** Lists are read page by page up to this many pages: enough for a machine's demo. */
const MAX_PAGES = 20;

export interface LocalApi {
  url: string;
  /** API_KEY, when the API has one. */
  key?: string;
}

async function call<T>(api: LocalApi, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (api.key) headers.authorization = `Bearer ${api.key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(api.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) {
    let message: string | undefined;
    try {
      message = (JSON.parse(text) as { error?: { message?: string } } | null)?.error?.message;
    } catch {
      // not the API's JSON error: the status says enough
    }
    throw new Error(`${method} ${path} answered ${res.status}${message ? `: ${message}` : ''}`);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Every item of a list route whose items match `wanted`. */
async function findAll<T>(api: LocalApi, path: string, wanted: (item: T) => boolean): Promise<T[]> {
  const found: T[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query: string = `?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const list: { items: T[]; next_cursor: string | null } = await call(api, 'GET', path + query);
    found.push(...list.items.filter(wanted));
    cursor = list.next_cursor;
    if (!cursor) break;
  }
  return found;
}

interface DemoWatch {
  id: string;
  name: string;
  every_s: number | null;
  cron: string | null;
  paused: boolean;
  niche_id: string | null;
}

export interface EnsuredDemoWatch {
  watch: DemoWatch;
  created: boolean;
}

/** The demo watch over `nicheId`: the one an earlier run made, else a new one every DEMO_WATCH_EVERY_S. */
export async function ensureDemoWatch(api: LocalApi, nicheId: string): Promise<EnsuredDemoWatch> {
  const [existing] = await findAll<DemoWatch>(api, '/watches', (w) => w.name === DEMO_WATCH_NAME);
  if (existing) return { watch: existing, created: false };
  const watch = await call<DemoWatch>(api, 'POST', '/watches', { name: DEMO_WATCH_NAME, niche_id: nicheId, every_s: DEMO_WATCH_EVERY_S });
  return { watch, created: true };
}

export interface DemoWebhook {
  id: string;
  url: string;
  /** Shown once by the API; kept in memory only, for the receiver. */
  secret: string;
  /** Earlier runs' demo webhooks deleted first. */
  replaced: number;
}

/** Deletes earlier runs' demo webhooks and creates one to `receiverUrl` for every event type. */
export async function recreateDemoWebhook(api: LocalApi, receiverUrl: string): Promise<DemoWebhook> {
  const previous = await findAll<{ id: string; description: string | null }>(api, '/webhooks', (w) => w.description === DEMO_WEBHOOK_DESCRIPTION);
  for (const w of previous) await call(api, 'DELETE', `/webhooks/${w.id}`);
  const created = await call<{ id: string; url: string; secret: string }>(api, 'POST', '/webhooks', {
    url: receiverUrl,
    events: WEBHOOK_EVENT_TYPES,
    description: DEMO_WEBHOOK_DESCRIPTION,
  });
  return { id: created.id, url: created.url, secret: created.secret, replaced: previous.length };
}
