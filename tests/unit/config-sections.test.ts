// The sections of `npm run dev` and `npm run bench`: what each process loads, with its defaults and the line
// that names a bad variable.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseOptions } from '../../bench/figures.js';
import { loadBenchProcess, loadDevProcess, sectionDefaults } from '../../src/config.js';

const run = promisify(execFile);

describe('npm run dev', () => {
  it('runs its own Temporal server, worker metrics and pacing unless the environment says otherwise', () => {
    const { config, dev, externalTemporal, databaseUrlGiven, simulator } = loadDevProcess({});
    expect(dev).toMatchObject({ DEV_POSTGRES_PORT: 5432, DEV_TEMPORAL_PORT: 7233, DEV_SIM_PORT: 4100, DEV_PROXIES: 4, DEV_DEMO_PROFILES: 300 });
    expect(config.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
    expect(config.WORKER_METRICS_PORT).toBe(9464);
    // 5 requests/s per proxy at the simulator: 200 ms apart, 20 % more for jitter
    expect(config.PROXY_MIN_INTERVAL_MS).toBe(240);
    expect(externalTemporal).toBeNull();
    expect(databaseUrlGiven).toBe(false);
    // the simulator's stories at the demo's scale, its friendly profile unasked
    expect(simulator).toEqual({ storyTtlS: 600, storyPostEveryS: 300 });
  });

  it('keeps what the environment sets', () => {
    const started = loadDevProcess({
      DEV_TEMPORAL_PORT: '7300',
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      DATABASE_URL: 'postgres://u@db/x',
      WORKER_METRICS_PORT: '0',
      PROXY_MIN_INTERVAL_MS: '0',
    });
    expect(started.config).toMatchObject({ TEMPORAL_ADDRESS: 'temporal.internal:7233', WORKER_METRICS_PORT: 0, PROXY_MIN_INTERVAL_MS: 0 });
    expect(started.externalTemporal).toBe('temporal.internal:7233');
    expect(started.databaseUrlGiven).toBe(true);
    expect(loadDevProcess({ DEV_TEMPORAL_PORT: '7300' }).config.TEMPORAL_ADDRESS).toBe('127.0.0.1:7300');
  });

  it.each([
    ['DEV_POSTGRES_PORT', '0', 'must be a whole number from 1 to 65535'],
    ['DEV_TEMPORAL_UI_PORT', 'ui', 'must be a number'],
    ['DEV_PROXIES', '51', 'must be a whole number from 1 to 50'],
    ['DEV_DEMO_PROFILES', '-1', 'must be a whole number from 0 to 100000'],
    ['PORT', 'eighty', 'must be a number'],
  ])('names %s when it is wrong', (name, value, message) => {
    expect(() => loadDevProcess({ [name]: value })).toThrow(`invalid configuration: ${name} ${message}`);
  });

  it('holds the service to its rules too', () => {
    expect(() => loadDevProcess({ CHECK_TIMEOUT_MS: '70000' })).toThrow(/^invalid configuration: CHECK_HEARTBEAT_TIMEOUT_MS \(60000\) must be above CHECK_TIMEOUT_MS/);
  });
});

describe('npm run bench', () => {
  it('hands its variables, checked, to the options (flags still win)', () => {
    const { variables, databaseAdminUrl } = loadBenchProcess({ BENCH_PROXIES: '6', BENCH_QUICK: '1', DATABASE_URL: 'postgres://u@db:6543/x' });
    const options = parseOptions(['--rate', '3'], variables);
    expect(options).toMatchObject({ proxies: 6, quick: true, rate: 3, burst: 3, concurrency: 24, profiles: 500 });
    expect(databaseAdminUrl).toBe('postgres://u@db:6543/x');
    expect(loadBenchProcess({ BENCH_DATABASE_ADMIN_URL: 'postgres://a@b/c', DATABASE_URL: 'postgres://u@db/x' }).databaseAdminUrl).toBe('postgres://a@b/c');
    expect(loadBenchProcess({}).databaseAdminUrl).toBe('postgres://postgres@127.0.0.1:5432/storycheck');
  });

  it('has the defaults the options parser falls back on', () => {
    const defaults = sectionDefaults('bench');
    const options = parseOptions([], {});
    expect(options).toMatchObject({
      proxies: Number(defaults.BENCH_PROXIES),
      rate: Number(defaults.BENCH_RATE),
      latencyMs: Number(defaults.BENCH_LATENCY_MS),
      out: defaults.BENCH_OUT,
      quick: defaults.BENCH_QUICK === 'true',
      eager: defaults.BENCH_EAGER === 'true',
      skipScale: defaults.BENCH_SKIP_SCALE === 'true',
    });
    expect(parseOptions([], loadBenchProcess({}).variables)).toEqual(options);
  });

  it.each([
    ['BENCH_PROXIES', '0', 'must be a whole number from 1 to 200'],
    ['BENCH_QUICK', 'yes', 'must be true or false (1 or 0)'],
    ['BENCH_DATABASE_ADMIN_URL', 'mysql://x', 'must be a postgres:// URL'],
    ['BENCH_TEMPORAL_LOG_LEVEL', 'LOUD', ''],
  ])('names %s when it is wrong', (name, value, message) => {
    expect(() => loadBenchProcess({ [name]: value })).toThrow(`invalid configuration: ${name} ${message}`);
  });
});

describe('npm run dev with a bad variable', () => {
  it('stops with one line naming it before starting anything', async () => {
    const attempt = run('npx', ['tsx', 'src/dev/main.ts'], { env: { ...process.env, DEV_PROXIES: '0' } });
    const err = (await attempt.then(() => null, (e: unknown) => e)) as { code: number; stderr: string; stdout: string } | null;
    expect(err?.code).toBe(1);
    expect(err!.stderr.trim().split('\n')).toEqual(['invalid configuration: DEV_PROXIES must be a whole number from 1 to 50']);
    expect(err!.stdout).toBe('');
  });
});
