/**
 * The API served over HTTP under a burst of concurrent work, with pools as small as the test can make them:
 * concurrent creates by username (each one creating profiles and a batch) never lock the pool up, a later
 * request answers at once, and a transaction left stuck on the API's own pool is ended by Postgres, with
 * 503 + Retry-After meanwhile instead of a hang, and the API fully back afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '../../../src/api/server.js';
import { loadConfig } from '../../../src/config.js';
import { createSql, transaction, type Sql } from '../../../src/db/sql.js';
import { createLogger } from '../../../src/logging/logger.js';
import { API_KEY, unusedTemporal } from '../../helpers/api.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

interface Answer {
  status: number;
  ms: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** One request with the key, timed; a request that takes longer than `timeoutMs` fails the test. */
async function call(api: RunningApi, method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  return { status: res.status, ms: performance.now() - started, headers: res.headers, body: text ? JSON.parse(text) : null };
}

const configFor = (env: Record<string, string>) =>
  loadConfig({ DATABASE_URL: db.url, API_KEY, PORT: '0', LOG_LEVEL: 'silent', ...env });

describe('concurrent creates', () => {
  const POOL = 4;
  let api: RunningApi;

  beforeAll(async () => {
    // the API opens its own pools, as `npm run api` does
    api = await startApi({ config: configFor({ API_DATABASE_POOL: String(POOL) }), temporal: unusedTemporal(), logger: createLogger() });
  });

  afterAll(async () => {
    await api?.close();
  });

  it(`${4 * POOL} concurrent creates by username on a pool of ${POOL} all complete, and a later request answers at once`, async () => {
    // four names each: two of the request's own, two shared with its neighbours (existing or being created)
    const creates = Array.from({ length: 4 * POOL }, (_, i) =>
      call(api, 'POST', '/batches', {
        hold: true,
        name: `burst ${i}`,
        usernames: [`burst_${i}_a`, `burst_${i}_b`, `burst_shared_${i % 3}`, `burst_shared_${(i + 1) % 3}`],
      }),
    );
    const answers = await Promise.all(creates);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));
    expect(answers.every((a) => a.body.total_profiles === 4)).toBe(true);

    const later = await call(api, 'GET', `/batches/${answers[0]!.body.id}`, undefined, 5_000);
    expect(later.status).toBe(200);
    expect(later.ms).toBeLessThan(1_000);
    const ready = await call(api, 'GET', '/readyz', undefined, 5_000);
    expect(ready.body.postgres).toBe('ok');

    const [profiles] = await db.sql<{ n: number }[]>`select count(*)::int as n from profiles where username like 'burst_%'`;
    expect(profiles!.n).toBe(4 * POOL * 2 + 3);
  });
});

describe('a transaction stuck on the API pool', () => {
  let api: RunningApi;
  let sql: Sql;

  beforeAll(async () => {
    // two connections: one for transactions, one always free for plain queries (src/db/guard.ts)
    sql = createSql(db.url, { max: 2, name: 'storycheck-api-stuck', acquireTimeoutMs: 300, idleInTransactionTimeoutMs: 1_500 });
    api = await startApi({ config: configFor({}), sql, temporal: unusedTemporal(), logger: createLogger() });
  });

  afterAll(async () => {
    await api?.close();
    await sql?.end({ timeout: 1 });
  });

  it('answers 503 with Retry-After meanwhile, never hangs, and recovers once Postgres ends it', async () => {
    let locked!: () => void;
    const holding = new Promise<void>((resolve) => (locked = resolve));
    // a transaction that takes the queue lock and then never finishes: a request handler gone wrong
    const stuck = transaction(sql, async (tx) => {
      await tx`select singleton from queue_state for update`;
      locked();
      return new Promise<never>(() => {});
    });
    stuck.catch(() => {});
    await holding;

    const refused = await call(api, 'POST', '/batches', { hold: true, usernames: ['stuck_a'] }, 5_000);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('unavailable');
    expect(refused.body.error.details).toEqual({ component: 'postgres' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.ms).toBeLessThan(2_000);
    // reads go on meanwhile on the connection kept free of transactions
    const read = await call(api, 'GET', '/batches', undefined, 5_000);
    expect(read.status).toBe(200);

    await expect(stuck).rejects.toBeTruthy();
    const created = await call(api, 'POST', '/batches', { hold: true, usernames: ['stuck_a', 'stuck_b'] }, 5_000);
    expect(created.status).toBe(201);
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => call(api, 'POST', '/batches', { hold: true, usernames: [`after_${i}`] }, 10_000)),
    );
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));
    const [idle] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = ${db.name} and application_name = 'storycheck-api-stuck' and state like 'idle in transaction%'`;
    expect(idle!.n).toBe(0);
  });
});
