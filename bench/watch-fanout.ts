/**
 * `watch_fanout`: a watch over a niche of 20,000 profiles, every 30 s, and 10 webhook endpoints for
 * story.posted: how soon a new story reaches the endpoints, and how many deliveries go out per second.
 *
 * 1. A niche of 20,000 profiles (their user ids cached, as a first check leaves them); the simulator's profiles
 *    post on their lanes every STORY_POST_EVERY_S, so that a tick finds a few hundred new items among them.
 * 2. A worker process (bench/worker-process.ts: the product's worker with its outbox dispatcher, on a task queue
 *    of its own) and the API in this process, with webhooks allowed to loopback.
 * 3. POST /watches over the niche, and a tick at once (POST /watches/:id/trigger): the first batch records the
 *    stories already live. The watch is paused until it is still (no tick running, no batch unfinished), so the
 *    endpoints hear only of new posts.
 * 4. 10 receivers (tests/helpers/recording-webhook-receiver.ts: real HTTP, every request verified with `standardwebhooks`),
 *    one webhook each over the niche. Then the watch resumes (and ticks at once); MEASURED_BATCHES of its batches
 *    run, the watch pauses again and every delivery is let finish.
 * 5. Figures (bench/watch-fanout-report.ts): from a new item's first sighting (story_items.first_seen_at, the
 *    check that saw it) to its delivery at each endpoint (p50, p99), deliveries per second, duplicates, and the
 *    batches' times. The simulator runs with no rate limit and no latency: what is measured is the product's own.
 *
 * Everything started here is stopped at the end (bounded), and the simulator's stories are set back.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startApi, type RunningApi } from '../src/api/server.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logging/logger.js';
import { Shutdown } from '../src/process/shutdown.js';
import { sleep } from '../src/process/timeouts.js';
import { createNiche } from '../src/repos/niches.js';
import { upsertProfiles } from '../src/repos/profiles.js';
import { writeWhole } from '../src/worker/workflow-bundle.js';
import { PROXY_HEALTH_SCHEDULE_ID } from '../workflows/proxy-health.js';
import { RETENTION_SCHEDULE_ID } from '../workflows/retention.js';
import { startWebhookReceiver, type WebhookReceiver } from '../tests/helpers/recording-webhook-receiver.js';
import { round, type ScenarioFigures, type ScenarioSpec } from './figures.js';
import { stopApiQueueRunner } from './runs.js';
import { cacheUserIdsOf } from './scale.js';
import { fanoutFigures, formatWatchFanout, type FanoutInput, type ReceivedDelivery, type WatchFanoutExtras } from './watch-fanout-report.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';
import { resetWorld, say, type World } from './world.js';

const PROFILES = 20_000;
const ENDPOINTS = 10;
const EVERY_S = 30;
const MEASURED_BATCHES = 2;
/**
 * About 6,000 of the profiles post (the simulator's story rate, 0.3), on 2 lanes each on average: some 200 new
 * items per 30 s, 2,000 deliveries to the 10 endpoints.
 */
const STORY_POST_EVERY_S = 1_800;
const STORY_TTL_S = 1_800;
const USERNAME_PREFIX = 'fanout_user_';
/** Bounds of the waits: a batch of 20,000 at no rate limit takes 20 s alone here, minutes while thousands of deliveries go out beside it. */
const BATCH_LIMIT_MS = 600_000;
const DRAIN_LIMIT_MS = 600_000;
const CLEANUP_STEP_MS = 30_000;
const POLL_MS = 250;

/** The parts the scenario runs on, once started. */
interface Parts {
  world: World;
  api: RunningApi;
  worker: WorkerProcess;
}

// API bodies are whatever the server answers; each caller reads the fields it relies on
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function call(parts: Parts, method: string, path: string, body?: unknown): Promise<Json> {
  const res = await fetch(parts.api.url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

/** Polls `probe` until it holds; fails after `limitMs`, on Ctrl-C, or when the worker process ended. */
async function until(parts: Parts, what: string, limitMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + limitMs;
  for (;;) {
    if (await probe()) return;
    if (parts.world.interrupted.aborted) throw new Error(`interrupted while waiting for ${what}`);
    const other = parts.worker.logs().other;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${limitMs / 1000} s${other.length ? `; the worker printed: ${other.slice(-5).join(' | ')}` : ''}`);
    await sleep(POLL_MS);
  }
}

/** The niche and its profiles, their user ids cached. */
async function seedNiche(world: World): Promise<string> {
  const niche = await createNiche(world.db.sql, `watch_fanout ${randomBytes(4).toString('hex')}`);
  const names = Array.from({ length: PROFILES }, (_, i) => `${USERNAME_PREFIX}${i}`);
  await upsertProfiles(world.db.sql, names, niche.id);
  await cacheUserIdsOf(world, names);
  return niche.id;
}

/** The worker process and the API, on a task queue of the scenario's own. */
async function startParts(world: World, started: Shutdown, shutdown: Shutdown): Promise<Parts> {
  const taskQueue = `${world.taskQueue}-watch-fanout`;
  const env = { ...world.baseEnv, TEMPORAL_ADDRESS: world.env.address, TEMPORAL_TASK_QUEUE: taskQueue, WEBHOOK_ALLOW_HOSTS: '127.0.0.1' };
  const bundleDir = mkdtempSync(join(tmpdir(), 'storycheck-bench-'));
  started.add('workflow bundle file', async () => rmSync(bundleDir, { recursive: true, force: true }));
  const bundlePath = join(bundleDir, 'workflows.js');
  writeWhole(bundlePath, world.workflowBundle.code);
  const worker = await startWorkerProcess({ ...env, LOG_LEVEL: 'info', WORKFLOW_BUNDLE: bundlePath });
  started.add('worker process', () => worker.stop());
  // Ctrl-C ends the run without waiting for this scenario's own cleanup: the process goes with the run's
  shutdown.add('watch_fanout worker process', () => worker.stop());
  // the worker makes sure of its schedules (proxy health, retention) on start: gone with it
  started.add('worker schedules', () =>
    Promise.all([PROXY_HEALTH_SCHEDULE_ID, RETENTION_SCHEDULE_ID].map((id) => world.env.client.schedule.getHandle(id).delete().catch(() => {}))),
  );
  started.add('queue runner', () => stopApiQueueRunner(world));
  const api = await startApi({ config: loadConfig({ ...env, HOST: '127.0.0.1' }), temporal: world.env.client, port: 0, logger: createLogger({ component: 'bench-api' }) });
  started.add('API', () => api.close());
  return { world, api, worker };
}

/** The watch's batches created after `since`, oldest first: each one's status, size and time. */
async function watchBatches(world: World, watchId: string, since: Date) {
  return world.db.sql<{ id: string; status: string; total_profiles: number; seconds: number | null }[]>`
    select id, status, total_profiles, extract(epoch from completed_at - created_at)::float8 as seconds
    from batches where watch_id = ${watchId} and created_at > ${since} order by created_at`;
}

/** Waits until `count` of the watch's batches created after `since` are done (and fails on one that is not). */
async function batchesDone(parts: Parts, watchId: string, since: Date, count: number): Promise<void> {
  await until(parts, `${count} watch batch(es) done`, BATCH_LIMIT_MS * count, async () => {
    const batches = await watchBatches(parts.world, watchId, since);
    const ended = batches.find((b) => !['queued', 'running', 'done'].includes(b.status));
    if (ended) throw new Error(`watch batch ${ended.id} ended ${ended.status}`);
    return batches.filter((b) => b.status === 'done').length >= count;
  });
}

/**
 * Pauses the watch and waits until it is still: no tick of its Schedule running (a tick that read the watch before
 * the pause may still create a batch) and none of its batches queued or running.
 */
async function pauseAndSettle(parts: Parts, watchId: string): Promise<void> {
  const watch = await call(parts, 'POST', `/watches/${watchId}/pause`);
  const schedule = parts.world.env.client.schedule.getHandle(watch.schedule_id);
  await until(parts, 'the watch still', BATCH_LIMIT_MS, async () => {
    if ((await schedule.describe()).info.runningActions.length > 0) return false;
    const [row] = await parts.world.db.sql<{ n: number }[]>`
      select count(*)::int as n from batches where watch_id = ${watchId} and status in ('queued', 'running', 'paused')`;
    return row!.n === 0;
  });
}

/** The watch, ticked at once; its first batch remembers the stories already live. Paused when it returns. */
async function firstBatch(parts: Parts, started: Shutdown, nicheId: string): Promise<string> {
  const watch = await call(parts, 'POST', '/watches', { name: 'watch_fanout', niche_id: nicheId, every_s: EVERY_S });
  // its Schedule goes with it
  started.add('watch', () => call(parts, 'DELETE', `/watches/${watch.id}`));
  await call(parts, 'POST', `/watches/${watch.id}/trigger`);
  const t0 = performance.now();
  await batchesDone(parts, watch.id, new Date(0), 1);
  say(`  watch_fanout: the first batch (the stories already live) done in ${round((performance.now() - t0) / 1000, 1)} s`);
  await pauseAndSettle(parts, watch.id);
  return watch.id;
}

/** A receiver and a webhook over the niche for each endpoint. */
async function createEndpoints(parts: Parts, started: Shutdown, nicheId: string): Promise<WebhookReceiver[]> {
  const receivers: WebhookReceiver[] = [];
  for (let i = 0; i < ENDPOINTS; i++) {
    const receiver = await startWebhookReceiver();
    started.add(`receiver ${i + 1}`, () => receiver.close());
    const hook = await call(parts, 'POST', '/webhooks', { url: receiver.url, events: ['story.posted'], niche_id: nicheId, description: `watch_fanout ${i + 1}` });
    receiver.trust(hook.secret);
    // no later scenario's events go out to it
    started.add(`webhook ${i + 1}`, () => call(parts, 'DELETE', `/webhooks/${hook.id}`));
    receivers.push(receiver);
  }
  return receivers;
}

/** Resumes the watch (a tick at once), lets MEASURED_BATCHES run, pauses it and lets every delivery finish. */
async function measure(parts: Parts, watchId: string): Promise<Date> {
  const since = new Date();
  parts.world.sim.reset();
  await call(parts, 'POST', `/watches/${watchId}/resume`);
  await call(parts, 'POST', `/watches/${watchId}/trigger`);
  await batchesDone(parts, watchId, since, MEASURED_BATCHES);
  await pauseAndSettle(parts, watchId);
  await until(parts, 'every delivery finished', DRAIN_LIMIT_MS, async () => {
    const [row] = await parts.world.db.sql<{ n: number }[]>`select count(*)::int as n from webhook_deliveries where status = 'pending'`;
    return row!.n === 0;
  });
  return since;
}

/** What the receivers got: one record per (endpoint, webhook-id), its first arrival and how many came. */
function deliveriesReceived(receivers: readonly WebhookReceiver[]): ReceivedDelivery[] {
  const byId = new Map<string, ReceivedDelivery>();
  receivers.forEach((receiver, endpoint) => {
    for (const r of receiver.received) {
      if (r.type !== 'story.posted') continue;
      const key = `${endpoint} ${r.webhookId}`;
      const seen = byId.get(key);
      if (seen) {
        seen.arrivals++;
        seen.verified &&= r.verified;
        continue;
      }
      const item = `${r.data?.profile_id}/${r.data?.item_pk}`;
      byId.set(key, { endpoint, webhookId: r.webhookId, item, receivedAtMs: r.receivedAt.getTime(), arrivals: 1, verified: r.verified });
    }
  });
  return [...byId.values()];
}

async function collect(world: World, watchId: string, since: Date, receivers: readonly WebhookReceiver[]): Promise<FanoutInput> {
  const batches = await watchBatches(world, watchId, since);
  const items = await world.db.sql<{ item: string; first_seen_ms: number; batch_id: string }[]>`
    select i.profile_id || '/' || i.item_pk as item, (extract(epoch from i.first_seen_at) * 1000)::float8 as first_seen_ms,
      i.first_seen_batch_id as batch_id
    from story_items i where i.first_seen_batch_id = any(${batches.map((b) => b.id)}::uuid[])`;
  return {
    setting: { watched_profiles: PROFILES, endpoints: ENDPOINTS, every_s: EVERY_S, story_post_every_s: STORY_POST_EVERY_S, story_ttl_s: STORY_TTL_S },
    batches: batches.map((b) => ({ id: b.id, profiles: b.total_profiles, seconds: b.seconds ?? 0 })),
    items: items.map((i) => ({ item: i.item, firstSeenAtMs: i.first_seen_ms, batchId: i.batch_id })),
    received: deliveriesReceived(receivers),
  };
}

export async function runWatchFanout(world: World, spec: ScenarioSpec, shutdown: Shutdown): Promise<ScenarioFigures> {
  say(`${spec.name}: a watch every ${EVERY_S} s over ${PROFILES} profiles, ${ENDPOINTS} webhook endpoints; ${MEASURED_BATCHES} batches measured`);
  await resetWorld(world, spec);
  const stories = { storyTtlS: world.sim.simulator.settings.storyTtlS, storyPostEveryS: world.sim.simulator.settings.storyPostEveryS };
  world.sim.setOptions({ storyTtlS: STORY_TTL_S, storyPostEveryS: STORY_POST_EVERY_S });
  // what the scenario started, stopped in reverse order at its end
  const started = new Shutdown({ warn: (msg, fields) => say(`  watch_fanout cleanup: ${msg}${fields?.err ? `: ${(fields.err as Error).message}` : ''}`) }, CLEANUP_STEP_MS);
  try {
    const nicheId = await seedNiche(world);
    const parts = await startParts(world, started, shutdown);
    const watchId = await firstBatch(parts, started, nicheId);
    const receivers = await createEndpoints(parts, started, nicheId);
    const since = await measure(parts, watchId);
    const input = await collect(world, watchId, since, receivers);
    const figures = scenarioFigures(world, spec, input, parts.worker);
    say(formatWatchFanout(figures));
    return figures;
  } finally {
    await started.run();
    world.sim.setOptions(stories);
  }
}

function scenarioFigures(world: World, spec: ScenarioSpec, input: FanoutInput, worker: WorkerProcess): ScenarioFigures & WatchFanoutExtras {
  const fanout = fanoutFigures(input);
  const checks = input.batches.reduce((sum, b) => sum + b.profiles, 0);
  const seconds = input.batches.reduce((sum, b) => sum + b.seconds, 0);
  const logs = worker.logs();
  return {
    name: spec.name,
    profiles: PROFILES,
    proxies: world.options.proxies,
    per_proxy_rate: 0,
    latency_ms: 0,
    // the measured batches' own time (each from its tick to its end)
    seconds: round(seconds, 2),
    checks_per_s: seconds > 0 ? round(checks / seconds, 1) : 0,
    ideal_checks_per_s: null,
    ratio_to_ideal: null,
    upstream_requests_per_profile: checks > 0 ? round(world.sim.stats.requests / checks, 4) : 0,
    max_history_events: null,
    // the worker process's peak: it ran the batches and sent the webhooks
    worker_rss_mb: worker.peakRssMb() ?? round(process.memoryUsage().rss / 2 ** 20, 0),
    ...fanout,
    worker_warnings: logs.warnings,
    worker_errors: logs.errors,
  };
}
