/**
 * The steps of `npm run dev` that show watches and webhooks: the local receiver (started before the worker, so
 * it stops after it), then, once the API answers, the demo webhook to it and the demo watch. Neither demo is
 * needed for the rest of the run: one that cannot be made is a warning in the log, not a failed start.
 */
import { DEV_HOST, type Config } from '../config.js';
import { createLogger } from '../logging/logger.js';
import type { WebhookDemoInfo } from './banner.js';
import { DEMO_NICHES } from './seed.js';
import { ensureDemoWatch, recreateDemoWebhook, type LocalApi } from './demo-watch-webhook.js';
import type { DevRun } from './dev-run.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';

/** The niche the demo watch re-checks. */
const DEMO_WATCH_NICHE = DEMO_NICHES[0];

/** The receiver on a free port; one log line per request it gets. */
export async function startReceiver(run: DevRun): Promise<WebhookReceiver> {
  const log = createLogger({ component: 'webhook-receiver' });
  const receiver = await startWebhookReceiver({
    host: DEV_HOST,
    onReceived: (r) => {
      const fields = { type: r.type, webhook_id: r.webhook_id, verified: r.verified };
      if (r.verified) log.info('webhook received, signature verified', fields);
      else log.warn('webhook received, signature NOT verified', fields);
    },
  });
  run.shutdown.add('webhook receiver', () => receiver.close());
  run.log.info('webhook receiver listening', { url: receiver.url });
  return receiver;
}

export interface WebhookDemoInput {
  config: Config;
  apiUrl: string;
  receiver: WebhookReceiver;
  /** Niche ids by name. */
  niches: Map<string, string>;
  /** No demo profiles: no demo watch either (as no demo batch). */
  withWatch: boolean;
}

/** The demo webhook (its secret handed to the receiver) and the demo watch; what the banner says of them. */
export async function startWebhookDemo(run: DevRun, input: WebhookDemoInput): Promise<WebhookDemoInfo> {
  const { config, receiver } = input;
  const api: LocalApi = { url: input.apiUrl, key: config.API_KEY };
  const info: WebhookDemoInfo = { receiverUrl: receiver.viewUrl, webhookId: null, watch: null };
  if (!config.WEBHOOK_ALLOW_HOSTS.includes(DEV_HOST)) {
    run.log.warn(`no demo webhook: WEBHOOK_ALLOW_HOSTS does not allow ${DEV_HOST}, where the local receiver listens`);
  } else {
    try {
      const webhook = await recreateDemoWebhook(api, receiver.url);
      receiver.setSecrets([webhook.secret]);
      info.webhookId = webhook.id;
      run.log.info('demo webhook created', { webhook_id: webhook.id, url: webhook.url, previous_removed: webhook.replaced });
    } catch (err) {
      run.log.warn(`no demo webhook: ${(err as Error).message}`);
    }
  }
  const nicheId = input.niches.get(DEMO_WATCH_NICHE);
  if (input.withWatch && nicheId) {
    try {
      const { watch, created } = await ensureDemoWatch(api, nicheId);
      info.watch = { id: watch.id, niche: DEMO_WATCH_NICHE, everyS: watch.every_s, created, paused: watch.paused };
      run.log.info(created ? 'demo watch created' : 'demo watch kept', { watch_id: watch.id, every_s: watch.every_s, paused: watch.paused });
    } catch (err) {
      run.log.warn(`no demo watch: ${(err as Error).message}`);
    }
  }
  return info;
}
