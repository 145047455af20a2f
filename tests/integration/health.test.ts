/**
 * The pool's self-healing: the health probe against real proxies and the simulator, and the on-demand
 * session check through the API, a Temporal dev server and a worker.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { toApiProxy } from '../../src/api/present.js';
import { createProxy, getProxy, setProxyStatus } from '../../src/repos/proxies.js';
import { createSession } from '../../src/repos/sessions.js';
import { createWorker } from '../../src/worker/worker.js';
import { createLogger } from '../../src/logger.js';
import { PROXY_PASSWORD, PROXY_USERNAME, startStack, type Stack } from '../helpers/stack.js';
import { createLocalEnv, uniqueIds } from '../helpers/temporal.js';

let env: TestWorkflowEnvironment;
let stack: Stack;

beforeAll(async () => {
  [env, stack] = await Promise.all([createLocalEnv(), startStack({ proxies: 3, sim: { invalidSessions: ['spent-token-1234'] } })]);
});

afterAll(async () => {
  await stack?.close();
  await env?.teardown();
});

const proxyIds = async () => (await stack.db.sql<{ id: string; url: string }[]>`select id, url from proxies order by url`).map((r) => r.id);

describe('proxy health', () => {
  it('re-enables a proxy its failures disabled and one that could not reach the upstream; an operator’s disabled proxy stays so', async () => {
    const [failing, unreachable, operator] = await proxyIds();
    await stack.db.sql`
      update proxies set status = 'disabled', disabled_reason = 'failures', consecutive_failures = 5, last_error = 'proxy refused'
      where id = ${failing!}`;
    await stack.db.sql`
      update proxies set status = 'cooling_down', rest_reason = 'upstream_unreachable', rate_limited_until = now() + interval '1 hour'
      where id = ${unreachable!}`;
    await setProxyStatus(stack.db.sql, operator!, 'disabled');
    // a proxy that does not answer at all stays disabled, with its last error and the time of the probe
    const dead = await createProxy(stack.db.sql, { url: 'http://127.0.0.1:1', username: PROXY_USERNAME, password: PROXY_PASSWORD });
    await stack.db.sql`update proxies set status = 'disabled', disabled_reason = 'failures' where id = ${dead.id}`;

    const report = await stack.deps.health.probeAll();
    expect(report).toMatchObject({ proxiesProbed: 3, proxiesRecovered: 2 });

    const shown = async (id: string) => toApiProxy(await getProxy(stack.db.sql, id));
    expect(await shown(failing!)).toMatchObject({ status: 'active', disabled_reason: null, consecutive_failures: 0, last_error: null });
    expect((await shown(failing!)).last_checked_at).not.toBeNull();
    expect(await shown(unreachable!)).toMatchObject({ status: 'active', rate_limited_until: null });
    expect(await shown(operator!)).toMatchObject({ status: 'disabled', disabled_reason: 'operator', last_checked_at: null });
    const deadNow = await shown(dead.id);
    expect(deadNow).toMatchObject({ status: 'disabled', disabled_reason: 'failures' });
    expect(deadNow.last_error).toMatch(/proxy/);
    expect(deadNow.last_error).not.toContain(PROXY_PASSWORD);
    expect(deadNow.last_checked_at).not.toBeNull();
    const [logs] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from batch_logs where event_type = 'PROXY_RECOVERED'`;
    expect(logs!.n).toBe(2);
    await stack.db.sql`delete from proxies where id = ${dead.id}`;
    await setProxyStatus(stack.db.sql, operator!, 'active');
  });

  it('re-validates an invalid session the source accepts again; one it still refuses stays invalid', async () => {
    const back = await createSession(stack.db.sql, { token: 'recovered-token-5678' });
    const spent = await createSession(stack.db.sql, { token: 'spent-token-1234' });
    await stack.db.sql`update sessions set status = 'invalid' where id in (${back.id}, ${spent.id})`;
    const report = await stack.deps.health.probeAll();
    expect(report).toMatchObject({ sessionsProbed: 2, sessionsRecovered: 1 });
    const rows = await stack.db.sql<{ id: string; status: string; last_checked_at: Date | null }[]>`
      select id, status, last_checked_at from sessions`;
    expect(Object.fromEntries(rows.map((r) => [r.id, r.status]))).toEqual({ [back.id]: 'valid', [spent.id]: 'invalid' });
    expect(rows.every((r) => r.last_checked_at !== null)).toBe(true);
    const [logs] = await stack.db.sql<{ n: number }[]>`select count(*)::int as n from batch_logs where event_type = 'SESSION_RECOVERED'`;
    expect(logs!.n).toBe(1);
  });

  it('POST /sessions/:id/validate probes one session on a worker and answers with its status', async () => {
    const { taskQueue } = uniqueIds('health');
    const config = { ...stack.config, TEMPORAL_TASK_QUEUE: taskQueue };
    const app = createApp({ sql: stack.db.sql, temporal: env.client, config, logger: createLogger(), eventsIntervalMs: 50 });
    const worker = await createWorker({ connection: env.nativeConnection, namespace: 'default', taskQueue, config, deps: stack.deps });
    await worker.runUntil(async () => {
      const good = await createSession(stack.db.sql, { token: 'fresh-token-9012' });
      await stack.db.sql`update sessions set status = 'invalid' where id = ${good.id}`;
      const res = await app.request(`/sessions/${good.id}/validate`, { method: 'POST' });
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ id: good.id, status: 'valid' });
      expect(JSON.stringify(body)).not.toContain('fresh-token-9012');

      const spent = (await stack.db.sql<{ id: string }[]>`select id from sessions where token = 'spent-token-1234'`)[0]!;
      await stack.db.sql`update sessions set status = 'valid' where id = ${spent.id}`;
      const refused = await app.request(`/sessions/${spent.id}/validate`, { method: 'POST' });
      expect(((await refused.json()) as { status: string }).status).toBe('invalid');

      const missing = await app.request('/sessions/00000000-0000-4000-8000-000000000000/validate', { method: 'POST' });
      expect(missing.status).toBe(404);
    });
  });
});
