/**
 * The metrics against the real parts: a batch run by a worker of the product on a Temporal dev server, with
 * Postgres, the simulator and real forward proxies. The worker's scrape carries its own series and the
 * Temporal SDK's; its check counters move by exactly the batch's own counts; a 429 counts against the proxy
 * it came through only; the API's /metrics reads the queue, the batch and the proxies, behind the key unless
 * METRICS_PUBLIC; and no scrape holds a proxy credential or a session token.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchSettings } from '../../activities/index.js';
import { createApp } from '../../src/api/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logging/logger.js';
import { proxyLabel } from '../../src/metrics/labels.js';
import { startWorkerMetricsServer, type WorkerMetricsServer } from '../../src/metrics/worker-server.js';
import { setQueuePaused } from '../../src/repos/queue.js';
import { createSession } from '../../src/repos/sessions.js';
import { StoryClient } from '../../src/upstream/story-client.js';
import { API_KEY, unusedTemporal } from '../helpers/api.js';
import { figure, labelSets, parseScrape, scrape, type Scrape } from '../helpers/metrics.js';
import { batchCounters, makeRunningBatch, PROXY_PASSWORD, PROXY_USERNAME, startStack, usernames, type Stack } from '../helpers/stack.js';
import { withStackWorker } from '../helpers/stack-worker.js';
import { sharedWorkflowBundle } from '../helpers/workflow-bundle.js';
import { createLocalEnv, quietTemporalRuntimeWithMetrics } from '../helpers/temporal.js';
import { executeBatch } from '../helpers/workflow.js';

const SESSION_TOKEN = 'sess-metrics-Secret-7731';
const SECRETS = [PROXY_PASSWORD, SESSION_TOKEN, Buffer.from(`${PROXY_USERNAME}:${PROXY_PASSWORD}`).toString('base64')];

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let worker: WorkerMetricsServer;

beforeAll(async () => {
  // first install of this process: the SDK's exporter is part of it
  const exporterUrl = await quietTemporalRuntimeWithMetrics();
  expect(exporterUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  env = await createLocalEnv();
  bundle = sharedWorkflowBundle();
  worker = await startWorkerMetricsServer({ host: '127.0.0.1', port: 0, runtimeExporterUrl: exporterUrl! });
});

afterAll(async () => {
  await worker?.close();
  await env?.teardown();
});

/** The API of a stack's database, configured by `env`. */
function apiOf(stack: Pick<Stack, 'db'>, vars: Record<string, string> = {}) {
  return createApp({ sql: stack.db.sql, temporal: unusedTemporal(), config: loadConfig({ API_KEY, ...vars }), logger: createLogger() });
}

async function apiScrape(app: ReturnType<typeof createApp>): Promise<Scrape> {
  const res = await app.request('/metrics', { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(res.status).toBe(200);
  return parseScrape(await res.text());
}

const delta = (before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}) =>
  figure(after, name, labels) - figure(before, name, labels);

function expectNoSecrets(text: string) {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
  expect(text).not.toContain(`${PROXY_USERNAME}:`);
}

describe('worker and API metrics after a real batch', () => {
  it('count exactly the batch own results, time its chunks and requests, and show the SDK worker metrics', async () => {
    await withStackWorker(env, bundle, { proxies: 2, prefix: 'metrics', sim: { storyRate: 0.5, missingUsernames: [] } }, async (stack, taskQueue) => {
      const missing = usernames(3, 'gone');
      stack.sim.setOptions({ missingUsernames: missing });
      const [proxy] = await stack.db.sql<{ id: string }[]>`select id from proxies order by url limit 1`;
      await createSession(stack.db.sql, { token: SESSION_TOKEN, proxyId: proxy!.id });
      const api = apiOf(stack);

      const batch = await makeRunningBatch(stack, [...usernames(57), ...missing]);
      // the claimed batch, before anything ran: every profile pending
      const waiting = await apiScrape(api);
      expect(figure(waiting, 'storycheck_batch_profiles', { state: 'pending' })).toBe(60);
      expect(figure(waiting, 'storycheck_queue_batches', { state: 'running' })).toBe(1);

      const before = await scrape(worker.url);
      const result = await executeBatch(env, taskQueue, { batchId: batch.id, settings: batchSettings(stack.config) });
      expect(result.outcome).toBe('done');
      const after = await scrape(worker.url);

      const counters = await batchCounters(stack, batch.id);
      expect(counters).toMatchObject({ status: 'done', successful_checks: 57, failed_checks: 3 });
      expect(delta(before, after, 'storycheck_checks_total', { outcome: 'story' })).toBe(counters.stories_found);
      expect(delta(before, after, 'storycheck_checks_total', { outcome: 'no_story' })).toBe(counters.successful_checks - counters.stories_found);
      expect(delta(before, after, 'storycheck_checks_total', { outcome: 'failed' })).toBe(counters.failed_checks);
      expect(counters.stories_found).toBeGreaterThan(0);
      // each item the batch saw first is one story.posted, counted once
      const [posted] = await stack.db.sql<{ n: number }[]>`
        select count(*)::int as n from story_events where batch_id = ${batch.id} and type = 'story.posted'`;
      expect(posted!.n).toBeGreaterThanOrEqual(counters.stories_found);
      expect(delta(before, after, 'storycheck_story_events_total', { type: 'story.posted' })).toBe(posted!.n);
      expect(delta(before, after, 'storycheck_story_events_total', { type: 'story.ended' })).toBe(0);

      // one lookup per profile (the missing ones answered 404), then the stories of the 57 found in two requests
      expect(delta(before, after, 'storycheck_upstream_requests_total', { endpoint: 'user_lookup', status: '200' })).toBe(57);
      expect(delta(before, after, 'storycheck_upstream_requests_total', { endpoint: 'user_lookup', status: '404' })).toBe(3);
      expect(delta(before, after, 'storycheck_upstream_requests_total', { endpoint: 'stories', status: '200' })).toBe(2);
      expect(delta(before, after, 'storycheck_upstream_request_seconds', { endpoint: 'user_lookup' })).toBe(60);
      expect(delta(before, after, 'storycheck_pool_wait_seconds')).toBe(62);
      expect(delta(before, after, 'storycheck_chunk_seconds', { result: 'done' })).toBeGreaterThanOrEqual(2);
      for (const result of ['done', 'deferred', 'stopped', 'retry', 'error']) {
        expect(labelSets(after, 'storycheck_chunk_seconds')).toContainEqual(expect.objectContaining({ result }));
      }
      expect(figure(after, 'storycheck_build_info', { version: '0.1.0', node: process.version })).toBe(1);
      expect(figure(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);

      // the SDK's own worker metrics, in the same scrape
      const sdk = [...after.families.keys()].filter((name) => name.startsWith('temporal_'));
      expect(sdk.length, after.text.slice(-2_000)).toBeGreaterThan(0);
      expect(sdk).toEqual(expect.arrayContaining([expect.stringMatching(/^temporal_(worker_task_slots|activity_execution_latency)/)]));

      // the API after the batch: nothing runs, one batch done, each proxy active, by host:port
      const done = await apiScrape(api);
      expect(figure(done, 'storycheck_queue_batches', { state: 'done' })).toBe(1);
      expect(figure(done, 'storycheck_queue_batches', { state: 'running' })).toBe(0);
      expect(labelSets(done, 'storycheck_queue_batches').map((l) => l.state).sort()).toEqual(
        ['cancelled', 'done', 'error', 'paused', 'queued', 'running'],
      );
      expect(figure(done, 'storycheck_batch_profiles')).toBe(0);
      expect(figure(done, 'storycheck_batch_stalled')).toBe(0);
      for (const p of stack.proxies.proxies) {
        const label = proxyLabel(p.url);
        expect(figure(done, 'storycheck_proxy_state', { proxy: label, state: 'active' })).toBe(1);
        expect(figure(done, 'storycheck_proxy_state', { proxy: label })).toBe(1);
      }

      expectNoSecrets(after.text);
      expectNoSecrets(done.text);
    });
  });

  it('count each result once through retries, and every 429 against the proxy it came through', async () => {
    const sim = { errorRate: 0.3, rateLimitShare: 0.2, retryAfter: 1 };
    await withStackWorker(env, bundle, { proxies: 3, prefix: 'metrics-retry', sim }, async (stack, taskQueue) => {
      const batch = await makeRunningBatch(stack, usernames(60));
      const before = await scrape(worker.url);
      const result = await executeBatch(env, taskQueue, { batchId: batch.id, settings: batchSettings(stack.config) });
      expect(result.outcome).toBe('done');
      const after = await scrape(worker.url);

      const counters = await batchCounters(stack, batch.id);
      expect(counters.successful_checks + counters.failed_checks).toBe(60);
      expect(delta(before, after, 'storycheck_checks_total', { outcome: 'story' })).toBe(counters.stories_found);
      expect(delta(before, after, 'storycheck_checks_total', { outcome: 'no_story' })).toBe(counters.successful_checks - counters.stories_found);
      expect(delta(before, after, 'storycheck_checks_total', { outcome: 'failed' })).toBe(counters.failed_checks);
      expect(delta(before, after, 'storycheck_chunk_seconds', { result: 'retry' })).toBeGreaterThan(0);
      expect(delta(before, after, 'storycheck_upstream_requests_total', { status: '500' })).toBeGreaterThan(0);

      const limited = stack.sim.stats.rateLimitedByClientAddress;
      expect(Object.keys(limited).length).toBeGreaterThan(0);
      for (const p of stack.proxies.proxies) {
        expect(delta(before, after, 'storycheck_rate_limited_total', { proxy: proxyLabel(p.url) }), p.url).toBe(limited[p.localAddress] ?? 0);
      }
    });
  });

  it('counts a 429 against the proxy it came through, and only that one', async () => {
    const stack = await startStack({ proxies: 2, sim: { ratePerSecond: 0.01, burst: 1, retryAfter: 60 } });
    try {
      const client = StoryClient.fromConfig(stack.config);
      const [first, second] = stack.proxies.proxies;
      const target = (p: typeof first) => ({ proxyId: p!.url, proxyUrl: p!.url, proxyUsername: PROXY_USERNAME, proxyPassword: PROXY_PASSWORD });
      const before = await scrape(worker.url);
      await client.fetchStories(target(first), ['1']);
      await expect(client.fetchStories(target(first), ['1'])).rejects.toMatchObject({ kind: 'rate_limited' });
      await client.fetchStories(target(second), ['1']);
      const after = await scrape(worker.url);
      await client.close();

      expect(stack.sim.stats.rateLimitedByClientAddress).toEqual({ [first!.localAddress]: 1 });
      expect(delta(before, after, 'storycheck_rate_limited_total', { proxy: proxyLabel(first!.url) })).toBe(1);
      expect(delta(before, after, 'storycheck_rate_limited_total', { proxy: proxyLabel(second!.url) })).toBe(0);
      expect(delta(before, after, 'storycheck_rate_limited_total')).toBe(1);
      expect(delta(before, after, 'storycheck_upstream_requests_total', { endpoint: 'stories', status: '429' })).toBe(1);
      expect(labelSets(after, 'storycheck_rate_limited_total').map((l) => l.proxy)).toContain(`127.0.0.1:${new URL(first!.url).port}`);
      expectNoSecrets(after.text);
    } finally {
      await stack.close();
    }
  });
});

describe('GET /metrics of the API', () => {
  it('needs the key (bearer or the console cookie) unless METRICS_PUBLIC, and answers Prometheus text from the registry', async () => {
    const stack = await startStack({ proxies: 1 });
    try {
      const locked = apiOf(stack);
      expect((await locked.request('/metrics')).status).toBe(401);
      expect((await locked.request('/metrics', { headers: { authorization: 'Bearer wrong-key-0000' } })).status).toBe(401);
      const ok = await locked.request('/metrics', { headers: { authorization: `Bearer ${API_KEY}` } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      parseScrape(await ok.text());

      // the console's cookie session, as for any GET
      const login = await locked.request('/console/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key: API_KEY }),
      });
      expect(login.status).toBe(204);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
      expect((await locked.request('/metrics', { headers: { cookie } })).status).toBe(200);

      const open = apiOf(stack, { METRICS_PUBLIC: 'true' });
      expect((await open.request('/metrics')).status).toBe(200);
      // only /metrics is opened
      expect((await open.request('/proxies')).status).toBe(401);
      const doc = (await (await open.request('/openapi.json')).json()) as { paths: Record<string, { get: { security?: unknown[] } }> };
      expect(doc.paths['/metrics']!.get.security).toEqual([]);
    } finally {
      await stack.close();
    }
  });

  it('shows the queue hold, a proxy state, the learned rate and no secret', async () => {
    const stack = await startStack({ proxies: 2 });
    try {
      await createSession(stack.db.sql, { token: SESSION_TOKEN });
      await setQueuePaused(stack.db.sql, true);
      const [first, second] = stack.proxies.proxies;
      await stack.db.sql`update proxies set status = 'disabled', disabled_reason = 'operator' where url = ${first!.url}`;
      await stack.db.sql`update proxies set status = 'cooling_down', rate_limited_until = now() + interval '1 hour',
        learned_rate_per_s = 2.5 where url = ${second!.url}`;
      const s = await apiScrape(apiOf(stack));
      expect(figure(s, 'storycheck_queue_paused')).toBe(1);
      expect(figure(s, 'storycheck_proxy_state', { proxy: proxyLabel(first!.url), state: 'disabled' })).toBe(1);
      expect(figure(s, 'storycheck_proxy_state', { proxy: proxyLabel(first!.url), state: 'active' })).toBe(0);
      expect(figure(s, 'storycheck_proxy_state', { proxy: proxyLabel(second!.url), state: 'cooling_down' })).toBe(1);
      expect(figure(s, 'storycheck_proxy_learned_rate_per_s', { proxy: proxyLabel(second!.url) })).toBe(2.5);
      expect(labelSets(s, 'storycheck_proxy_learned_rate_per_s')).toHaveLength(1);
      expect(figure(s, 'storycheck_batch_stalled_reason')).toBe(0);
      expect(figure(s, 'storycheck_build_info')).toBe(1);
      expectNoSecrets(s.text);
    } finally {
      await stack.close();
    }
  });
});
