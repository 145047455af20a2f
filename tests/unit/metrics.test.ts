// The metrics' own small parts: proxy labels, their configuration, the worker's metrics server on its own (no
// SDK exporter in this process), and the dev banner's metrics line.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { renderBanner, type BannerInfo } from '../../src/dev/banner.js';
import { proxyLabel } from '../../src/metrics/labels.js';
import { startWorkerMetricsServer, type WorkerMetricsServer } from '../../src/metrics/worker-server.js';
import { figure, labelSets, scrape } from '../helpers/metrics.js';

describe('proxyLabel', () => {
  it.each([
    ['http://127.0.0.1:4201', '127.0.0.1:4201'],
    ['http://user:Secret-Pass@proxy.example.com:8080', 'proxy.example.com:8080'],
    ['https://user:Secret-Pass@proxy.example.com', 'proxy.example.com:443'],
    ['http://proxy.example.com/path?token=Secret-Pass', 'proxy.example.com:80'],
    ['http://[::1]:3128', '[::1]:3128'],
    ['not a url Secret-Pass', 'invalid'],
  ])('%s is %s', (url, label) => {
    expect(proxyLabel(url)).toBe(label);
  });
});

describe('metrics configuration', () => {
  it('is off and closed by default', () => {
    const config = loadConfig({});
    expect(config.WORKER_METRICS_PORT).toBeUndefined();
    expect(config.WORKER_METRICS_HOST).toBe('127.0.0.1');
    expect(config.METRICS_PUBLIC).toBe(false);
  });

  it('reads the port (0: any free one), the host and the public switch', () => {
    expect(loadConfig({ WORKER_METRICS_PORT: '9464', WORKER_METRICS_HOST: '0.0.0.0', METRICS_PUBLIC: 'true' })).toMatchObject({
      WORKER_METRICS_PORT: 9464,
      WORKER_METRICS_HOST: '0.0.0.0',
      METRICS_PUBLIC: true,
    });
    expect(loadConfig({ WORKER_METRICS_PORT: '0' }).WORKER_METRICS_PORT).toBe(0);
    expect(loadConfig({ WORKER_METRICS_PORT: '' }).WORKER_METRICS_PORT).toBeUndefined();
  });
});

describe('the worker metrics server', () => {
  let server: WorkerMetricsServer;
  beforeAll(async () => {
    server = await startWorkerMetricsServer({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => server.close());

  it('answers GET /metrics with the worker series, zeros included, and nothing else', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const res = await fetch(server.url);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const s = await scrape(server.url);
    expect(labelSets(s, 'storycheck_checks_total').map((l) => l.outcome).sort()).toEqual(['failed', 'no_story', 'story']);
    expect(labelSets(s, 'storycheck_watch_ticks_total').map((l) => l.result).sort()).toEqual(['created', 'skipped']);
    for (const name of [
      'storycheck_upstream_requests_total',
      'storycheck_upstream_request_seconds',
      'storycheck_rate_limited_total',
      'storycheck_pool_wait_seconds',
      'storycheck_chunk_seconds',
      'storycheck_build_info',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(s.families.has(name), name).toBe(true);
    }
    expect(figure(s, 'storycheck_build_info')).toBe(1);
    // no SDK exporter in this process: no temporal_ series
    expect([...s.families.keys()].some((n) => n.startsWith('temporal_'))).toBe(false);

    const origin = new URL(server.url).origin;
    expect((await fetch(`${origin}/`)).status).toBe(404);
    expect((await fetch(`${origin}/metrics/x`)).status).toBe(404);
    expect((await fetch(server.url, { method: 'POST' })).status).toBe(405);
  });

  it('still answers, with a comment, when the SDK exporter cannot be read', async () => {
    const broken = await startWorkerMetricsServer({ host: '127.0.0.1', port: 0, runtimeExporterUrl: 'http://127.0.0.1:1/metrics' });
    try {
      const s = await scrape(broken.url);
      expect(s.text).toMatch(/^# the Temporal SDK's metrics could not be read: /m);
      expect(figure(s, 'storycheck_build_info')).toBe(1);
    } finally {
      await broken.close();
    }
  });
});

describe('the dev banner', () => {
  const info = (overrides: Partial<BannerInfo>): BannerInfo => ({
    apiUrl: 'http://127.0.0.1:3000',
    apiKeySet: false,
    temporalAddress: '127.0.0.1:7233',
    namespace: 'default',
    taskQueue: 'storycheck',
    uiUrl: null,
    simulatorUrl: 'http://127.0.0.1:4100',
    proxyUrls: [],
    databaseUrl: 'postgres://postgres@127.0.0.1:5432/storycheck',
    dataDir: null,
    queueHeld: false,
    runningBatchId: null,
    demoBatch: null,
    ...overrides,
  });

  it("prints the API's metrics and the worker's", () => {
    const text = renderBanner(info({ workerMetricsUrl: 'http://127.0.0.1:9464/metrics' }));
    expect(text).toMatch(/^ {2}Metrics +http:\/\/127\.0\.0\.1:3000\/metrics; worker and Temporal SDK: http:\/\/127\.0\.0\.1:9464\/metrics$/m);
    expect(renderBanner(info({ apiKeySet: true }))).toMatch(/^ {2}Metrics +http:\/\/127\.0\.0\.1:3000\/metrics \(with the key\)$/m);
    expect(renderBanner(info({ apiKeySet: true, metricsPublic: true }))).toMatch(/^ {2}Metrics +http:\/\/127\.0\.0\.1:3000\/metrics$/m);
  });
});
