/**
 * The pool's self-healing: the health probe against real proxies and the simulator, and the on-demand
 * session check through the API, a Temporal dev server and a worker. A round keeps to its budget whatever
 * its proxies do (30 that never answer), reaches its sessions all the same, and gives every proxy its turn;
 * a proxy whose address the source refused comes back only once the source answers it otherwise.
 */
import { ScheduleOverlapPolicy } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { toApiProxy } from '../../src/api/present.js';
import { createProxy, getProxy, setProxyStatus } from '../../src/repos/proxies.js';
import { createSession } from '../../src/repos/sessions.js';
import { createWorker } from '../../src/worker/worker.js';
import { createLogger } from '../../src/logging/logger.js';
import { ensureWorkerSchedules } from '../../src/worker/schedules.js';
import { PROXY_HEALTH_SCHEDULE_ID, proxyHealthWorkflow } from '../../workflows/proxy-health.js';
import { RETENTION_SCHEDULE_ID } from '../../workflows/retention.js';
import { startRefusedProxies, startSilentProxies } from '../helpers/misbehaving-proxies.js';
import { PROXY_PASSWORD, PROXY_USERNAME, startStack, type Stack } from '../helpers/stack.js';
import { createLocalEnv, uniqueIds } from '../helpers/temporal.js';
import { sharedWorkflowBundle } from '../helpers/workflow-bundle.js';

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
    const worker = await createWorker({ connection: env.nativeConnection, namespace: 'default', taskQueue, config, deps: stack.deps, workflowBundle: sharedWorkflowBundle() });
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

  it('keeps a round within its budget with 30 proxies that never answer, probes the invalid session all the same, and reaches every proxy in later rounds', async () => {
    const { sql } = stack.db;
    const [live1, live2] = await proxyIds();
    const silent = await startSilentProxies(30);
    try {
      for (const url of silent.urls) {
        const p = await createProxy(sql, { url, username: PROXY_USERNAME, password: PROXY_PASSWORD });
        await sql`update proxies set status = 'disabled', disabled_reason = 'failures' where id = ${p.id}`;
      }
      // two working proxies that failed once, checked a minute ago: behind the 30 never checked in line
      await sql`
        update proxies set status = 'disabled', disabled_reason = 'failures', last_checked_at = now() - interval '1 minute'
        where id in (${live1!}, ${live2!})`;
      const revived = await createSession(sql, { token: 'revived-token-3141' });
      await sql`update sessions set status = 'invalid' where id = ${revived.id}`;

      const budgetMs = 3_000;
      const rounds: Array<{ ms: number; proxiesProbed: number; proxiesLeft: number; sessionsProbed: number }> = [];
      let beats = 0;
      const liveBack = async () =>
        (await sql<{ n: number }[]>`select count(*)::int as n from proxies where id in (${live1!}, ${live2!}) and status = 'active'`)[0]!.n === 2;
      while (rounds.length < 4 && !(await liveBack())) {
        const started = Date.now();
        const report = await stack.deps.health.probeAll({ budgetMs, probeTimeoutMs: 1_000, heartbeat: () => beats++ });
        rounds.push({ ms: Date.now() - started, ...report });
      }

      // each round ended within its budget (and the writes of its last probes), heartbeating meanwhile
      for (const round of rounds) expect(round.ms).toBeLessThan(budgetMs + 1_500);
      expect(beats).toBeGreaterThan(0);
      // the first could not reach everything: what it left went first in the next
      expect(rounds[0]!.proxiesLeft).toBeGreaterThan(0);
      expect(rounds.length).toBeGreaterThan(1);
      expect(await liveBack()).toBe(true);
      // the session was probed in the first round, whatever the proxies did
      expect(rounds[0]!.sessionsProbed).toBeGreaterThanOrEqual(1);
      const [session] = await sql<{ status: string }[]>`select status from sessions where id = ${revived.id}`;
      expect(session!.status).toBe('valid');
      const dead = await sql<{ last_checked_at: Date | null; last_error: string | null; status: string }[]>`
        select last_checked_at, last_error, status from proxies where url in ${sql(silent.urls)}`;
      expect(dead.every((p) => p.last_checked_at !== null && p.status === 'disabled' && /no answer within/.test(p.last_error ?? ''))).toBe(true);
    } finally {
      await sql`delete from proxies where url in ${sql(silent.urls)}`;
      await silent.close();
    }
  });

  it('brings back a proxy whose address was refused only when the source answers it otherwise than 403', async () => {
    const { sql } = stack.db;
    const refused = await startRefusedProxies(1);
    try {
      // one of the stack's live proxies, chosen before the refused one exists (ids are listed by url)
      const [answersAgain] = await proxyIds();
      const stillBlocked = await createProxy(sql, { url: refused.urls[0]!, username: PROXY_USERNAME, password: PROXY_PASSWORD });
      await sql`
        update proxies set status = 'disabled', disabled_reason = 'blocked', blocked_strikes = 2
        where id in (${stillBlocked.id}, ${answersAgain!})`;

      const report = await stack.deps.health.probeAll();
      expect(report).toMatchObject({ proxiesProbed: 2, proxiesRecovered: 1 });
      expect(toApiProxy(await getProxy(sql, answersAgain!))).toMatchObject({ status: 'active', disabled_reason: null });
      // its refusals start over: the next 403 rests it before anything disables it again
      const strikes = await sql<{ id: string; blocked_strikes: number }[]>`
        select id, blocked_strikes from proxies where id in (${stillBlocked.id}, ${answersAgain!})`;
      expect(Object.fromEntries(strikes.map((r) => [r.id, r.blocked_strikes]))).toEqual({ [answersAgain!]: 0, [stillBlocked.id]: 2 });
      const blocked = toApiProxy(await getProxy(sql, stillBlocked.id));
      expect(blocked).toMatchObject({ status: 'disabled', disabled_reason: 'blocked' });
      expect(blocked.last_error).toMatch(/403/);
      expect(blocked.last_checked_at).not.toBeNull();
    } finally {
      await sql`delete from proxies where url = ${refused.urls[0]!}`;
      await refused.close();
    }
  });

  it('a round run by the worker heartbeats within its activity timeout; the worker\'s schedules (proxy-health, retention) never let rounds overlap', async () => {
    const { taskQueue, workflowId } = uniqueIds('health-round');
    const config = { ...stack.config, TEMPORAL_TASK_QUEUE: taskQueue };
    const worker = await createWorker({ connection: env.nativeConnection, namespace: 'default', taskQueue, config, deps: stack.deps, workflowBundle: sharedWorkflowBundle() });
    await worker.runUntil(async () => {
      const report = await env.client.workflow.execute(proxyHealthWorkflow, { taskQueue, workflowId, workflowExecutionTimeout: 60_000 });
      expect(report).toMatchObject({ proxiesLeft: 0, sessionsLeft: 0 });
    });
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes)!.activityTaskScheduledEventAttributes!;
    expect(Number(scheduled.heartbeatTimeout!.seconds)).toBeGreaterThan(0);
    // below the run's own timeout, so the round ends (within its budget) before the run is cut off
    expect(Number(scheduled.startToCloseTimeout!.seconds)).toBeLessThan(60);

    // a schedule an older worker created letting rounds overlap is set to skip them instead
    await env.client.schedule.create({
      scheduleId: PROXY_HEALTH_SCHEDULE_ID,
      spec: { intervals: [{ every: 60_000 }] },
      action: { type: 'startWorkflow', workflowType: proxyHealthWorkflow, taskQueue, workflowId: 'proxy-health-round' },
      policies: { overlap: ScheduleOverlapPolicy.ALLOW_ALL },
      state: { paused: true },
    });
    const schedule = env.client.schedule.getHandle(PROXY_HEALTH_SCHEDULE_ID);
    // the retention schedule, which no worker has created yet, is created with the worker's interval
    const retention = env.client.schedule.getHandle(RETENTION_SCHEDULE_ID);
    try {
      await ensureWorkerSchedules(env.client, { ...config, PROXY_HEALTH_INTERVAL_MS: 120_000, RETENTION_INTERVAL_MS: 7_200_000 });
      const described = await schedule.describe();
      expect(described.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
      expect(described.spec.intervals?.[0]?.every).toBe(120_000);
      const retentionDescribed = await retention.describe();
      expect(retentionDescribed.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
      expect(retentionDescribed.spec.intervals?.[0]?.every).toBe(7_200_000);
      expect(retentionDescribed.action).toMatchObject({ type: 'startWorkflow', workflowType: 'retentionWorkflow', taskQueue });
      // a worker started again with another interval moves it
      await ensureWorkerSchedules(env.client, { ...config, RETENTION_INTERVAL_MS: 600_000 });
      expect((await retention.describe()).spec.intervals?.[0]?.every).toBe(600_000);
    } finally {
      await schedule.delete();
      await retention.delete().catch(() => {});
    }
  });
});
