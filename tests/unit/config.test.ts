import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, workerDatabasePool } from '../../src/config.js';

const run = promisify(execFile);

describe('configuration', () => {
  it('applies the documented defaults (README, "Configuration")', () => {
    const config = loadConfig({});
    expect(config.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/storycheck');
    expect(config.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
    expect(config.TEMPORAL_TASK_QUEUE).toBe('storycheck');
    expect(config.PORT).toBe(3000);
    expect(config.CHECK_CHUNK_SIZE).toBeLessThanOrEqual(50);
    expect(config.API_KEY).toBeUndefined();
    expect(config.CHECK_MAX_AGE_S).toBe(0);
    expect(config.API_DATABASE_POOL).toBe(10);
    expect(config.DATABASE_POOL_TIMEOUT_MS).toBe(3_000);
    expect(config.DATABASE_STATEMENT_TIMEOUT_MS).toBe(60_000);
    expect(config.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS).toBe(15_000);
  });

  it('coerces numbers and treats empty values as unset', () => {
    const config = loadConfig({ PORT: '8080', BATCH_CONCURRENCY: '3', API_KEY: '' });
    expect(config.PORT).toBe(8080);
    expect(config.BATCH_CONCURRENCY).toBe(3);
    expect(config.API_KEY).toBeUndefined();
  });

  it('gives a worker twice BATCH_CONCURRENCY activity slots, at least 8, unless WORKER_ACTIVITY_SLOTS is set', () => {
    expect(loadConfig({}).WORKER_ACTIVITY_SLOTS).toBe(16);
    expect(loadConfig({ BATCH_CONCURRENCY: '3' }).WORKER_ACTIVITY_SLOTS).toBe(8);
    expect(loadConfig({ BATCH_CONCURRENCY: '40' }).WORKER_ACTIVITY_SLOTS).toBe(80);
    expect(loadConfig({ BATCH_CONCURRENCY: '40', WORKER_ACTIVITY_SLOTS: '12' }).WORKER_ACTIVITY_SLOTS).toBe(12);
    expect(loadConfig({ WORKER_ACTIVITY_SLOTS: '' }).WORKER_ACTIVITY_SLOTS).toBe(16);
  });

  it.each([
    ['DATABASE_URL', 'mysql://x'],
    ['PORT', 'eighty'],
    ['BATCH_CONCURRENCY', '0'],
    ['CHECK_CHUNK_SIZE', '51'],
    ['TEMPORAL_ADDRESS', 'no port'],
    ['LOG_LEVEL', 'loud'],
    ['CHECK_MAX_AGE_S', '-1'],
    ['CHECK_MAX_AGE_S', '1.5'],
    ['CHECK_MAX_AGE_S', String(366 * 24 * 3600)],
    ['WORKER_ACTIVITY_SLOTS', '0'],
    ['WORKER_ACTIVITY_SLOTS', 'many'],
    ['WORKER_METRICS_PORT', '65536'],
    ['WORKER_METRICS_PORT', 'nine'],
    ['METRICS_PUBLIC', 'yes'],
    ['API_DATABASE_POOL', '1'],
    ['DATABASE_POOL_TIMEOUT_MS', '10'],
    ['DATABASE_STATEMENT_TIMEOUT_MS', '-5'],
    ['DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS', 'long'],
    ['SESSION_MAX_IN_FLIGHT', '0'],
    ['SESSION_MAX_IN_FLIGHT', '65'],
    ['SESSION_MAX_IN_FLIGHT', '2.5'],
    ['STORY_RETENTION_DAYS', '0'],
    ['LOG_RETENTION_DAYS', '7.5'],
    ['BATCH_RETENTION_DAYS', '-1'],
    ['BATCH_RETENTION_DAYS', 'forever'],
    ['RETENTION_INTERVAL_MS', '0'],
  ])('names the bad variable %s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^invalid configuration: ${name} `));
  });

  it('carries up to SESSION_MAX_IN_FLIGHT requests on one session, 4 unless set', () => {
    expect(loadConfig({}).SESSION_MAX_IN_FLIGHT).toBe(4);
    expect(loadConfig({ SESSION_MAX_IN_FLIGHT: '1' }).SESSION_MAX_IN_FLIGHT).toBe(1);
    expect(loadConfig({ SESSION_MAX_IN_FLIGHT: '64' }).SESSION_MAX_IN_FLIGHT).toBe(64);
  });

  it('keeps stories 90 days and logs 30, every batch unless BATCH_RETENTION_DAYS is set, and sweeps hourly', () => {
    expect(loadConfig({})).toMatchObject({ STORY_RETENTION_DAYS: 90, LOG_RETENTION_DAYS: 30, RETENTION_INTERVAL_MS: 3_600_000 });
    expect(loadConfig({}).BATCH_RETENTION_DAYS).toBeUndefined();
    expect(loadConfig({ BATCH_RETENTION_DAYS: '' }).BATCH_RETENTION_DAYS).toBeUndefined();
    expect(loadConfig({ BATCH_RETENTION_DAYS: '365', STORY_RETENTION_DAYS: '7' })).toMatchObject({ BATCH_RETENTION_DAYS: 365, STORY_RETENTION_DAYS: 7 });
  });

  it('sizes a worker\'s Postgres pool from its activity slots, at least 10', () => {
    expect(workerDatabasePool(loadConfig({}))).toBe(24);
    expect(workerDatabasePool(loadConfig({ BATCH_CONCURRENCY: '1' }))).toBe(16);
    expect(workerDatabasePool(loadConfig({ WORKER_ACTIVITY_SLOTS: '2', WEBHOOK_CONCURRENCY: '4' }))).toBe(10);
    expect(workerDatabasePool(loadConfig({ WORKER_ACTIVITY_SLOTS: '100' }))).toBe(108);
  });

  it('stops a process with one clear line and no stack trace', async () => {
    const attempt = run('npx', ['tsx', 'src/migrate/main.ts'], { env: { ...process.env, DATABASE_URL: 'not-a-url' } });
    const err = (await attempt.then(() => null, (e: unknown) => e)) as { code: number; stderr: string } | null;
    expect(err).not.toBeNull();
    expect(err!.code).not.toBe(0);
    const lines = err!.stderr.trim().split('\n');
    expect(lines).toEqual(['invalid configuration: DATABASE_URL must be a postgres:// URL']);
  });

  it('reports an unreachable Postgres in one line without a stack trace', async () => {
    const attempt = run('npx', ['tsx', 'src/migrate/main.ts'], {
      env: { ...process.env, DATABASE_URL: 'postgres://postgres:secretpw@127.0.0.1:1/none' },
    });
    const err = (await attempt.then(() => null, (e: unknown) => e)) as { code: number; stderr: string } | null;
    expect(err!.code).not.toBe(0);
    const lines = err!.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/Postgres refused the connection/);
    expect(err!.stderr).not.toContain('secretpw');
    expect(err!.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });
});
