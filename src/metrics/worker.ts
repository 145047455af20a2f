/**
 * The series of a worker process, served by its metrics server (./worker-server.ts) at WORKER_METRICS_PORT.
 * Counters are this process's own since it started; Prometheus sums them over the workers. Labels are small
 * closed sets, plus a proxy's `host:port` (./labels.ts): never a batch, a profile, a username or a secret.
 *
 * The product's code records through the functions below, so it never handles a metric object itself.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { proxyLabel } from './labels.js';
import { STORY_EVENT_TYPES, WATCH_TICK_RESULTS, WEBHOOK_DISABLED_REASONS, type WatchTickResult, type WebhookDisabledReason } from '../enums.js';

export const workerRegistry = new Registry();

export const CHECK_OUTCOMES = ['story', 'no_story', 'failed'] as const;
export type CheckOutcome = (typeof CHECK_OUTCOMES)[number];

/** The upstream calls of docs/upstream.md, by what they do. */
export const UPSTREAM_ENDPOINTS = ['user_lookup', 'stories'] as const;
export type UpstreamEndpoint = (typeof UPSTREAM_ENDPOINTS)[number];

export const CHUNK_RESULTS = ['done', 'deferred', 'stopped', 'retry', 'error'] as const;
export type ChunkResult = (typeof CHUNK_RESULTS)[number];

const checks = new Counter({
  name: 'storycheck_checks_total',
  help: 'Profile checks recorded as final by this process (each profile of a batch once, answers from recent results included), by outcome.',
  labelNames: ['outcome'],
  registers: [workerRegistry],
});
for (const outcome of CHECK_OUTCOMES) checks.inc({ outcome }, 0);

const storyEvents = new Counter({
  name: 'storycheck_story_events_total',
  help: 'Story events recorded by this process (story.posted: an item seen for the first time; story.ended), each once.',
  labelNames: ['type'],
  registers: [workerRegistry],
});
for (const type of STORY_EVENT_TYPES) storyEvents.inc({ type }, 0);

const upstreamRequests = new Counter({
  name: 'storycheck_upstream_requests_total',
  help: 'Upstream requests sent through a proxy, by endpoint and HTTP status (timeout: no answer in time; error: none at all; aborted: given up by the caller).',
  labelNames: ['endpoint', 'status'],
  registers: [workerRegistry],
});

const upstreamSeconds = new Histogram({
  name: 'storycheck_upstream_request_seconds',
  help: 'Time from sending an upstream request (tunnel included) to its whole answer, or to its failure.',
  labelNames: ['endpoint'],
  buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [workerRegistry],
});
for (const endpoint of UPSTREAM_ENDPOINTS) upstreamSeconds.zero({ endpoint });

const rateLimited = new Counter({
  name: 'storycheck_rate_limited_total',
  help: 'Answers asking a proxy to slow down (429, or the "Please wait a few minutes" body), by proxy host:port.',
  labelNames: ['proxy'],
  registers: [workerRegistry],
});

const poolWait = new Histogram({
  name: 'storycheck_pool_wait_seconds',
  help:
    'Time a request of a chunk waited for its proxy: for a send slot (while proxies were busy or resting briefly) ' +
    'plus the pacing wait until the send time the proxy schedule gave it. Requests that got no slot are not counted.',
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [workerRegistry],
});

const chunkSeconds = new Histogram({
  name: 'storycheck_chunk_seconds',
  help:
    'One checkChunk attempt, by how it ended: done, deferred (queue held), stopped (batch no longer running), ' +
    'retry (to be tried again later: rate limits, errors, nothing to send through) or error.',
  labelNames: ['result'],
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  registers: [workerRegistry],
});
for (const result of CHUNK_RESULTS) chunkSeconds.zero({ result });

/** `recorded` profiles newly recorded with this outcome (rows that changed, so a retry never counts twice). */
export function countChecks(outcome: CheckOutcome, recorded: number): void {
  if (recorded > 0) checks.inc({ outcome }, recorded);
}

/** Story events a committed transaction wrote (its unique keys make a retry write none). */
export function countStoryEvents(events: { posted: number; ended: number }): void {
  if (events.posted > 0) storyEvents.inc({ type: 'story.posted' }, events.posted);
  if (events.ended > 0) storyEvents.inc({ type: 'story.ended' }, events.ended);
}

export function observeUpstreamRequest(endpoint: UpstreamEndpoint, status: number | 'timeout' | 'error' | 'aborted', seconds: number): void {
  upstreamRequests.inc({ endpoint, status: String(status) });
  upstreamSeconds.observe({ endpoint }, seconds);
}

export function countRateLimited(proxyUrl: string): void {
  rateLimited.inc({ proxy: proxyLabel(proxyUrl) });
}

export function observePoolWait(seconds: number): void {
  poolWait.observe(seconds);
}

/**
 * Times one chunk attempt: its result's kind when it returns, `classify(err)` when it throws. The error is
 * thrown on unchanged.
 */
export async function timeChunk<T extends { kind: 'done' | 'deferred' | 'stopped' }>(
  run: () => Promise<T>,
  classify: (err: unknown) => 'retry' | 'error',
): Promise<T> {
  const end = chunkSeconds.startTimer();
  try {
    const result = await run();
    end({ result: result.kind });
    return result;
  } catch (err) {
    end({ result: classify(err) });
    throw err;
  }
}

// ---------- watches ----------

const watchTicks = new Counter({
  name: 'storycheck_watch_ticks_total',
  help: "Watch ticks decided by this process, by result: created (a batch queued) or skipped (the watch's previous batch unfinished, an empty selection, a paused watch). Each scheduled time once.",
  labelNames: ['result'],
  registers: [workerRegistry],
});
for (const result of WATCH_TICK_RESULTS) watchTicks.inc({ result }, 0);

/** One tick's outcome, the first time it is recorded (a retried tick is not counted again). */
export function countWatchTick(result: WatchTickResult): void {
  watchTicks.inc({ result });
}

// --- webhook deliveries ---

/**
 * What a webhook attempt came to: delivered (2xx), failed_attempt (another attempt follows), failed (the last
 * attempt failed, or the endpoint was disabled by it), gone (410: the endpoint disabled), cancelled (the
 * endpoint disabled or deleted before the attempt: nothing sent).
 */
export const WEBHOOK_DELIVERY_RESULTS = ['delivered', 'failed_attempt', 'failed', 'gone', 'cancelled'] as const;
export type WebhookDeliveryResult = (typeof WEBHOOK_DELIVERY_RESULTS)[number];

const webhookDeliveries = new Counter({
  name: 'storycheck_webhook_deliveries_total',
  help:
    'Webhook delivery attempts by what they came to: delivered, failed_attempt (retried later), failed (no attempt ' +
    'follows), gone (410, endpoint disabled), cancelled (endpoint disabled or deleted, nothing sent).',
  labelNames: ['result'],
  registers: [workerRegistry],
});
for (const result of WEBHOOK_DELIVERY_RESULTS) webhookDeliveries.inc({ result }, 0);

const webhookSeconds = new Histogram({
  name: 'storycheck_webhook_delivery_seconds',
  help: "Time of each webhook attempt's request, from sending to the end of the answer's snippet (or the failure).",
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [workerRegistry],
});

const webhookEndpointsDisabled = new Counter({
  name: 'storycheck_webhook_endpoints_disabled_total',
  help: 'Webhook endpoints this process disabled, by reason: gone (answered 410), failing (failing for WEBHOOK_DISABLE_AFTER_MS); operator stays 0 here (the API disables those).',
  labelNames: ['reason'],
  registers: [workerRegistry],
});
for (const reason of WEBHOOK_DISABLED_REASONS) webhookEndpointsDisabled.inc({ reason }, 0);

export function countWebhookDelivery(result: WebhookDeliveryResult): void {
  webhookDeliveries.inc({ result });
}

export function observeWebhookRequest(seconds: number): void {
  webhookSeconds.observe(seconds);
}

export function countWebhookEndpointDisabled(reason: WebhookDisabledReason): void {
  webhookEndpointsDisabled.inc({ reason });
}
