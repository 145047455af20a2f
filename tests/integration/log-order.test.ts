/**
 * A batch's logs reach readers in commit order, with no gaps and no duplicates, however the writers'
 * transactions interleave: the log pages (`GET /batches/:id/logs` through listLogs and its cursor) and the
 * event stream (`GET /batches/:id/events`, its `log` ids and Last-Event-ID), against real Postgres.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { loadConfig } from '../../src/config.js';
import { createSql, type Sql, type Tx } from '../../src/db.js';
import { createLogger, setLogSink, type LogSink } from '../../src/logger.js';
import { insertLogs, listLogs, type LogRow as LogItem } from '../../src/repos/logs.js';
import { encodeCursor } from '../../src/repos/pagination.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { takeSseEvents, type SseEvent } from '../helpers/sse.js';

type App = ReturnType<typeof createApp>;

const config = loadConfig({});
let db: TestDatabase;
let previousSink: LogSink;

/** The event stream never calls Temporal: a client that would fail if it did. */
function unusedTemporal(): Client {
  return new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 1_000 }) });
}

beforeAll(async () => {
  previousSink = setLogSink(() => {}); // the streams' warnings when Postgres is cut off are expected here
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
  setLogSink(previousSink);
});

async function runningBatch(): Promise<string> {
  // straight into the table: the queue is not the subject here (one running batch at a time)
  await db.sql`update batches set status = 'done', position = null where status = 'running'`;
  const [row] = await db.sql<{ id: string }[]>`
    insert into batches (status, position, total_profiles) values ('running', 0, 0) returning id`;
  return row!.id;
}

function logEntry(batchId: string, message: string) {
  return { batchId, level: 'INFO' as const, eventType: 'CHECK_RETRY' as const, message };
}

/**
 * One writer of the randomized tests: `transactions` transactions of 1 to 3 logs each, held open a random while
 * and overlapping the other writers'; about one in ten rolled back. Records which messages committed.
 */
async function writeAtRandom(batchId: string, worker: number, transactions: number, committed: Set<string>, rolledBack?: Set<string>) {
  for (let i = 0; i < transactions; i++) {
    const tx = await openTransaction(db.sql);
    await sleep(Math.random() * 10);
    const messages = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, (_, k) => `w${worker}-${i}-${k}`);
    await tx.insert(batchId, ...messages);
    await sleep(Math.random() * 25);
    if (Math.random() < 0.1) {
      await tx.rollback();
      messages.forEach((m) => rolledBack?.add(m));
    } else {
      await tx.commit();
      messages.forEach((m) => committed.add(m));
    }
  }
}

class Rollback extends Error {}

/** A transaction held open until the test commits or rolls it back. */
async function openTransaction(sql: Sql) {
  let decide!: (commit: boolean) => void;
  const decision = new Promise<boolean>((resolve) => (decide = resolve));
  let opened!: (tx: Tx) => void;
  const txOpened = new Promise<Tx>((resolve) => (opened = resolve));
  const finished = sql
    .begin(async (tx) => {
      opened(tx);
      if (!(await decision)) throw new Rollback();
    })
    .then(
      () => undefined,
      (err: unknown) => {
        if (!(err instanceof Rollback)) throw err;
      },
    );
  const tx = await txOpened;
  return {
    insert: (batchId: string, ...messages: string[]) => insertLogs(tx, messages.map((m) => logEntry(batchId, m))),
    commit: async () => {
      decide(true);
      await finished;
    },
    rollback: async () => {
      decide(false);
      await finished;
    },
  };
}

/**
 * The cursor of GET /batches/:id/logs positioned after one item. listLogs hands one out only when more rows
 * exist; a reader that keeps polling after the last page resumes from its last item the same way.
 */
async function cursorAfter(item: LogItem): Promise<string> {
  const [row] = await db.sql<{ seq: number }[]>`select seq from batch_logs where id = ${item.id}`;
  return encodeCursor([row!.seq]);
}

/** One poll of a log reader: every page after `cursor`, and where the next poll starts. */
async function poll(batchId: string, cursor: string | null, limit = 2): Promise<{ items: LogItem[]; cursor: string | null }> {
  const items: LogItem[] = [];
  for (;;) {
    const page = await listLogs(db.sql, batchId, { limit, cursor });
    items.push(...page.items);
    const last = page.items[page.items.length - 1];
    if (last !== undefined) cursor = page.next_cursor ?? (await cursorAfter(last));
    if (page.next_cursor === null) return { items, cursor };
  }
}

describe('log pages in commit order', () => {
  it('delivers a log that commits after a later-inserted one, once, after it', async () => {
    const batchId = await runningBatch();
    const a = await openTransaction(db.sql);
    const b = await openTransaction(db.sql);
    await a.insert(batchId, 'A'); // inserted first
    await b.insert(batchId, 'B');
    await b.commit(); // committed first

    const first = await poll(batchId, null);
    expect(first.items.map((l) => l.message)).toEqual(['B']);

    await a.commit();
    const second = await poll(batchId, first.cursor);
    expect(second.items.map((l) => l.message)).toEqual(['A']);
    expect((await poll(batchId, second.cursor)).items).toEqual([]);
  });

  it('gives every committed log to a reader paging throughout, exactly once, and no rolled-back one', async () => {
    const batchId = await runningBatch();
    const committed = new Set<string>();
    const rolledBack = new Set<string>();
    let writing = true;

    const writers = (worker: number) => writeAtRandom(batchId, worker, 15, committed, rolledBack);

    const seen: string[] = [];
    const reader = async () => {
      let cursor: string | null = null;
      for (let last = false; !last; ) {
        last = !writing; // one more full poll after the writers are done
        const read = await poll(batchId, cursor, 3);
        seen.push(...read.items.map((l) => l.message));
        cursor = read.cursor;
      }
    };

    const reading = reader();
    await Promise.all(Array.from({ length: 8 }, (_, w) => writers(w)));
    writing = false;
    await reading;

    expect(committed.size).toBeGreaterThan(100);
    expect(seen.filter((m) => rolledBack.has(m))).toEqual([]);
    expect(seen.length).toBe(new Set(seen).size); // no duplicates
    expect(new Set(seen)).toEqual(committed); // no gaps
  });
});


/** Reads a text/event-stream body into events as they arrive, as EventSource does; `close()` drops the connection. */
class SseReader {
  readonly events: SseEvent[] = [];
  readonly ended: Promise<void>;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private waiters: Array<() => void> = [];

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
    this.ended = this.pump().catch(() => {});
  }

  private async pump(): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { done, value } = await this.reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        const taken = takeSseEvents(buffer);
        buffer = taken.rest;
        if (taken.events.length) {
          this.events.push(...taken.events);
          this.waiters.splice(0).forEach((w) => w());
        }
      }
    } finally {
      this.waiters.splice(0).forEach((w) => w());
    }
  }

  /** The messages of the `log` events so far, in order. */
  logs(): string[] {
    return this.events.filter((e) => e.event === 'log').map((e) => (JSON.parse(e.data) as LogItem).message);
  }

  /** The id of the last `log` event: what EventSource sends back as Last-Event-ID. */
  lastEventId(): string | undefined {
    return this.events.filter((e) => e.event === 'log').at(-1)?.id;
  }

  async waitFor(predicate: (e: SseEvent) => boolean, timeoutMs = 10_000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (let checked = 0; ; ) {
      // only the events that arrived since the last look: a long stream stays linear
      const found = this.events.slice(checked).find(predicate);
      if (found) return found;
      checked = this.events.length;
      if (Date.now() > deadline) {
        const counts = new Map<string, number>();
        for (const e of this.events) counts.set(e.event, (counts.get(e.event) ?? 0) + 1);
        const got = [...counts].map(([event, n]) => `${n} ${event}`).join(', ') || 'nothing';
        throw new Error(`event not seen; got ${got}, the last: ${JSON.stringify(this.events.at(-1))}`);
      }
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(100)]);
    }
  }

  async close(): Promise<void> {
    await this.reader.cancel().catch(() => {});
    await this.ended;
  }
}

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
    const batchId = await runningBatch();
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
    const batchId = await runningBatch();
    const committed = new Set<string>();
    let writing = true;
    const writers = (worker: number) => writeAtRandom(batchId, worker, 12, committed);

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
    const batchId = await runningBatch();
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
    const batchId = await runningBatch();
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
    const batchId = await runningBatch();
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
    const batchId = await runningBatch();
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
