/**
 * A batch's event stream (`GET /batches/:id/events`, its `log` ids and Last-Event-ID) delivers logs in commit
 * order, with no gaps and no duplicates, however the writers' transactions interleave, to one client or 200,
 * and tells its clients when Postgres goes away or the server shuts down; against real Postgres.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { loadConfig } from '../../src/config.js';
import { createSql } from '../../src/db/sql.js';
import { createLogger, setLogSink, type LogSink } from '../../src/logging/logger.js';
import { insertLogs, type LogRow as LogItem } from '../../src/repos/logs.js';
import { SseReader, unusedTemporal, type App, type SseEvent } from '../helpers/api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { logEntry, openTransaction, runningBatch, writeAtRandom } from '../helpers/log-writers.js';

const config = loadConfig({});
let db: TestDatabase;
let previousSink: LogSink;

beforeAll(async () => {
  previousSink = setLogSink(() => {}); // the streams' warnings when Postgres is cut off are expected here
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
  setLogSink(previousSink);
});

const isLog = (message: string) => (e: SseEvent) => e.event === 'log' && (JSON.parse(e.data) as LogItem).message === message;

describe('the event stream in commit order', () => {
  let app: App;

  beforeAll(() => {
    app = createApp({ sql: db.sql, temporal: unusedTemporal(), config, logger: createLogger(), eventsIntervalMs: 20 });
  });

  async function openEvents(batchId: string, lastEventId?: string, target: App = app): Promise<SseReader> {
    const headers: Record<string, string> = lastEventId === undefined ? {} : { 'last-event-id': lastEventId };
    const res = await target.request(`/batches/${batchId}/events`, { headers });
    expect(res.status).toBe(200);
    return new SseReader(res.body!);
  }

  it('sends a log that commits after a later-inserted one, once, after it; Last-Event-ID resumes before it', async () => {
    const batchId = await runningBatch(db.sql);
    const a = await openTransaction(db.sql);
    const b = await openTransaction(db.sql);
    await a.insert(batchId, 'A');
    await b.insert(batchId, 'B');
    const live = await openEvents(batchId, '0');
    await live.waitFor((e) => e.event === 'progress');
    await b.commit();
    const eventB = await live.waitFor(isLog('B'));

    // a client that got B and reconnects while A is still open
    const resumed = await openEvents(batchId, eventB.id);
    await resumed.waitFor((e) => e.event === 'progress');
    await a.commit();
    await live.waitFor(isLog('A'));
    await resumed.waitFor(isLog('A'));

    await db.sql`update batches set status = 'done', position = null where id = ${batchId}`;
    await Promise.all([live.waitFor((e) => e.event === 'end'), resumed.waitFor((e) => e.event === 'end')]);
    expect(live.logs()).toEqual(['B', 'A']);
    expect(resumed.logs()).toEqual(['A']);
    // and a client starting over gets the same order
    const replay = await openEvents(batchId, '0');
    await replay.ended;
    expect(replay.logs()).toEqual(['B', 'A']);
  });

  it('gives every committed log exactly once to a follower and to one that keeps reconnecting', async () => {
    const batchId = await runningBatch(db.sql);
    const committed = new Set<string>();
    let writing = true;
    const writers = (worker: number) => writeAtRandom(db.sql, batchId, worker, 12, committed);

    const follower = await openEvents(batchId, '0');
    // EventSource after each dropped connection: resume from the last id received
    const reconnecting: string[] = [];
    let lastId = '0';
    const reconnect = async () => {
      while (writing) {
        const stream = await openEvents(batchId, lastId);
        await sleep(30 + Math.random() * 70);
        await stream.close();
        reconnecting.push(...stream.logs());
        lastId = stream.lastEventId() ?? lastId;
      }
    };
    const reconnects = reconnect();
    await Promise.all(Array.from({ length: 6 }, (_, w) => writers(w)));
    writing = false;
    await reconnects;

    await db.sql`update batches set status = 'done', position = null where id = ${batchId}`;
    const last = await openEvents(batchId, lastId);
    await Promise.all([follower.ended, last.ended]);
    reconnecting.push(...last.logs());

    expect(committed.size).toBeGreaterThan(60);
    for (const seen of [follower.logs(), reconnecting]) {
      expect(seen.length).toBe(new Set(seen).size); // no duplicates
      expect(new Set(seen)).toEqual(committed); // no gaps, nothing rolled back
    }
    const ids = follower.events.filter((e) => e.event === 'log').map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(follower.events.at(-1)?.event).toBe('end');
  });

  it('gives a client that stops reading for a while every log once it reads again', async () => {
    const batchId = await runningBatch(db.sql);
    const fast = await openEvents(batchId);
    const res = await app.request(`/batches/${batchId}/events`);
    // the slow client reads nothing while 6,000 logs are written and the fast one gets them
    const messages = Array.from({ length: 6_000 }, (_, i) => `m${i}`);
    for (let i = 0; i < messages.length; i += 500) {
      await insertLogs(db.sql, messages.slice(i, i + 500).map((m) => logEntry(batchId, m)));
    }
    await fast.waitFor(isLog('m5999'));
    const slow = new SseReader(res.body!);
    await slow.waitFor(isLog('m5999'));
    await db.sql`update batches set status = 'done', position = null where id = ${batchId}`;
    await Promise.all([fast.ended, slow.ended]);
    expect(fast.logs()).toEqual(messages);
    expect(slow.logs()).toEqual(messages);
  });

  it('reads a followed batch as often for 200 clients as for 1, sends each of them every log, and stops when they leave', async () => {
    const batchId = await runningBatch(db.sql);
    let queries = 0;
    // every query the app sends through its client, counted
    const countingSql = new Proxy(db.sql, {
      apply(target, thisArg, args) {
        queries++;
        return Reflect.apply(target, thisArg, args) as unknown;
      },
    });
    const counted = createApp({
      sql: countingSql,
      temporal: unusedTemporal(),
      config,
      logger: createLogger(),
      eventsIntervalMs: 20,
    });

    const queriesPerSecond = async (clients: number) => {
      const streams = await Promise.all(Array.from({ length: clients }, () => openEvents(batchId, undefined, counted)));
      await Promise.all(streams.map((s) => s.waitFor((e) => e.event === 'progress')));
      const before = queries;
      await sleep(1_000);
      const used = queries - before;
      await insertLogs(db.sql, [logEntry(batchId, `for ${clients}`)]);
      await Promise.all(streams.map((s) => s.waitFor(isLog(`for ${clients}`))));
      await Promise.all(streams.map((s) => s.close()));
      return used;
    };

    // one read of the batch and one of its logs per 20 ms tick at most, however many follow it
    // (a reader per client would need 200 times that)
    const bound = 2 * (1_000 / 20 + 1);
    const one = await queriesPerSecond(1);
    const many = await queriesPerSecond(200);
    expect(one).toBeGreaterThan(10); // it polls
    expect(one).toBeLessThanOrEqual(bound);
    expect(many).toBeLessThanOrEqual(bound);

    // nobody follows the batch any more: its reader stops
    await sleep(200);
    const idle = queries;
    await sleep(300);
    expect(queries).toBe(idle);
  });

  it('tells every client that Postgres is unreachable, then closes the streams', async () => {
    const batchId = await runningBatch(db.sql);
    const link = await tcpForwarder(new URL(db.url));
    const through = new URL(db.url);
    through.port = String(link.port);
    const sql = createSql(through.toString(), { max: 2, connectTimeout: 2 });
    try {
      const linked = createApp({ sql, temporal: unusedTemporal(), config, logger: createLogger(), eventsIntervalMs: 20 });
      const streams = await Promise.all([openEvents(batchId, undefined, linked), openEvents(batchId, '0', linked)]);
      await Promise.all(streams.map((s) => s.waitFor((e) => e.event === 'progress')));
      await link.cut();
      for (const stream of streams) {
        const error = await stream.waitFor((e) => e.event === 'error');
        expect(JSON.parse(error.data)).toMatchObject({ error: { code: 'unavailable', details: { component: 'postgres' } } });
        await stream.ended;
      }
    } finally {
      await link.cut();
      await sql.end({ timeout: 1 });
    }
  });

  it('ends every open stream when the server shuts down, without a shutdown listener per stream', async () => {
    const batchId = await runningBatch(db.sql);
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const shutdown = new AbortController();
      const server = createApp({
        sql: db.sql,
        temporal: unusedTemporal(),
        config,
        logger: createLogger(),
        eventsIntervalMs: 20,
        shutdown: shutdown.signal,
      });
      const streams = await Promise.all(Array.from({ length: 20 }, () => openEvents(batchId, undefined, server)));
      await Promise.all(streams.map((s) => s.waitFor((e) => e.event === 'progress')));
      shutdown.abort();
      await Promise.all(streams.map((s) => s.ended));
      expect(new Set(streams.map((s) => s.events.at(-1)?.event))).toEqual(new Set(['progress']));
      await sleep(10); // process warnings are emitted on a later tick
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});

/** A TCP hop to Postgres that the test can cut: new connections are then refused and open ones reset. */
async function tcpForwarder(target: URL): Promise<{ port: number; cut(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
      a.pipe(b);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let cut: Promise<void> | undefined;
  return {
    port,
    cut: () =>
      (cut ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      })),
  };
}
