/**
 * The plan of the `api_load` scenario (bench/api-load.ts): how long each load phase lasts, how many
 * connections each drives, and how the batch that runs meanwhile is sized. Pure, so that
 * tests/unit/bench-format.test.ts covers it.
 *
 * The batch must be bounded by its rate limit, not by CPU: the machine has 2 cores, and the worker, the
 * simulator and the proxies share the bench process with the load generator, while the API and Postgres take
 * the rest. So it is a re-check of the world's profiles (ids cached, stories requests only) at a per-proxy rate
 * well below what the system can do, paced (PROXY_MIN_INTERVAL_MS = 1/rate + a margin, so nothing to learn),
 * sized so that unloaded it takes BATCH_TARGET_S: a little longer than the three phases together, so that it
 * is still running when the last one ends. The simulator's bucket holds BATCH_BURST tokens: the product
 * schedules each proxy's sends on a grid 1/rate + margin apart, and a send that leaves late (a busy event loop,
 * the proxy hop) brings the next one closer than 1/rate; with one token that is a 429 and a 1 s rest, which
 * made the batch's time vary by seconds from run to run. With two, only a lag of more than a whole interval
 * would, and the paced sends never use the second token otherwise: the rate still bounds the batch.
 *
 * With k requests per proxy the first goes at once and each next one 1/rate + margin later, so the batch takes
 * (k − 1) · (1/rate + margin) plus the last answer: rate = 1 / (BATCH_TARGET_S / (k − 1) − margin).
 */
import { PACING_MARGIN_MS } from './figures.js';

/** Seconds of each of the three phases (creates, reads, mix). */
export const PHASE_S = 10;
export const PHASES = ['creates', 'reads', 'mix'] as const;
export type PhaseName = (typeof PHASES)[number];

/** The batch's unloaded time: the phases, plus room for starting them after the batch and between them. */
export const BATCH_TARGET_S = PHASES.length * PHASE_S + 6;

/** autocannon's per-request timeout, seconds: a request without an answer this long counts as a timeout. */
export const REQUEST_TIMEOUT_S = 10;

/** Connections per phase; the mix splits its own between the kinds of request, beside the SSE subscribers. */
export const CONNECTIONS = {
  creates: 50,
  reads: 200,
  mix: { creates: 20, reads: 50, transitions: 10 },
} as const;
export const SSE_SUBSCRIBERS = 100;

/** Each create: this many usernames never seen before, plus this many of the world's profiles. */
export const FRESH_PER_CREATE = 4;
export const EXISTING_PER_CREATE = 2;
/** Held batches created before the load, which the mix's transitions resume and pause again. */
export const TRANSITION_BATCHES = 20;

/** /readyz is polled this often through the phases, each poll bounded by READYZ_TIMEOUT_MS. */
export const READYZ_INTERVAL_MS = 250;
export const READYZ_TIMEOUT_MS = 3_000;

const MAX_CHUNK = 50;
/** The simulator's token bucket during the batch (see the header). */
export const BATCH_BURST = 2;
/** Fewer requests per proxy than this and the batch's time moves in coarse steps: smaller chunks then. */
const MIN_REQUESTS_PER_PROXY = 12;

export interface ApiLoadBatch {
  /** Requests/s the simulator allows per proxy (and the pacing the product is configured with). */
  rate: number;
  chunkSize: number;
  requests: number;
}

/** The running batch's chunk size and per-proxy rate, for `profiles` profiles over `proxies` proxies (header). */
export function apiLoadBatch(profiles: number, proxies: number, targetS = BATCH_TARGET_S): ApiLoadBatch {
  const chunkSize = Math.max(1, Math.min(MAX_CHUNK, Math.floor(profiles / (proxies * MIN_REQUESTS_PER_PROXY))));
  const requests = Math.ceil(profiles / chunkSize);
  const perProxy = Math.ceil(requests / proxies);
  const gapMs = (targetS * 1000) / Math.max(1, perProxy - 1) - PACING_MARGIN_MS;
  return { rate: Math.round((1000 / gapMs) * 1000) / 1000, chunkSize, requests };
}
