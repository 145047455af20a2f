/**
 * The HTTP API as its test files use it: an app on a database of the file's own (and a Temporal dev server when
 * the file needs one), `call` for a request with the key and JSON, the error envelope of docs/api.md, a reader of
 * the event stream, and a sweep of everything the file was answered for the secrets it sent.
 */
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger, setLogSink, type LogSink } from '../../src/logging/logger.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { createLocalEnv, uniqueIds } from './temporal.js';
import { waitFor } from './wait.js';

export const API_KEY = 'api-key-for-tests-7f3a9c';

export type App = ReturnType<typeof createApp>;

export interface Res {
  status: number;
  // response bodies are whatever the API returns; each test asserts the fields it relies on
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  text: string;
  headers: Headers;
}

export interface CallOptions {
  /** true: the right key; false: no header; a string: that Authorization header. */
  auth?: boolean | string;
  /** A raw body sent as is (JSON content type unless headers say otherwise). */
  raw?: string;
  headers?: Record<string, string>;
  /** Another app than the file's (a broken or differently configured one). */
  target?: App;
}

/** The error envelope of docs/api.md: the status, its code, a message, and never a stack trace. */
export function expectError(res: Res, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(typeof res.body.error.message).toBe('string');
  expect(res.text).not.toMatch(/\n\s+at /); // no stack trace
}

/** A Temporal client that fails any call: for apps whose routes under test never reach Temporal. */
export function unusedTemporal(): Client {
  return new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 1_000 }) });
}

/** Secrets shorter than this are too likely to occur by chance in an unrelated body. */
const MIN_SECRET_LENGTH = 8;

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // not percent-encoded after all
  }
}

/** The proxy passwords and session tokens a request body carries (fields and URL credentials). */
function secretsIn(body: unknown): string[] {
  if (typeof body !== 'object' || body === null) return [];
  const found: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (typeof value !== 'string') continue;
    if (key === 'password' || key === 'token') found.push(value);
    if (key === 'url') {
      const password = /^[a-z0-9+.-]+:\/\/[^/:@]*:([^@/]*)@/i.exec(value)?.[1];
      if (password) found.push(password, decoded(password));
    }
  }
  return found.filter((s) => s.trim().length >= MIN_SECRET_LENGTH);
}

/**
 * What a file's tests answer to, and what they were told: every response body and event-stream payload, the
 * log lines written meanwhile, and the secrets the file sent.
 */
export class ApiRecorder {
  readonly bodies: string[] = [];
  readonly logLines: string[] = [];
  readonly secrets = new Set<string>([API_KEY]);

  /** Remembers a secret created outside `call` (straight into the database, say). */
  secret(value: string): void {
    this.secrets.add(value);
  }

  /** None of the file's secrets in any body it was answered or any line it logged. */
  expectNoSecrets(): void {
    for (const secret of this.secrets) {
      for (const body of this.bodies) expect(body).not.toContain(secret);
      for (const line of this.logLines) expect(line).not.toContain(secret);
    }
  }
}

/** Sends one request to `app` and records the request's secrets and the response's body in `recorder`. */
export async function callApp(app: App, recorder: ApiRecorder, method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<Res> {
  const headers: Record<string, string> = { ...options.headers };
  const auth = options.auth ?? true;
  if (auth === true) headers.authorization = `Bearer ${API_KEY}`;
  else if (typeof auth === 'string') headers.authorization = auth;
  let payload: string | undefined;
  if (options.raw !== undefined) payload = options.raw;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) headers['content-type'] ??= 'application/json';
  for (const secret of secretsIn(body)) recorder.secret(secret);
  const res = await (options.target ?? app).request(path, { method, headers, body: payload });
  const text = await res.text();
  recorder.bodies.push(text);
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

/** The API of one test file, as `startApiUnderTest` sets it up. */
export class ApiUnderTest extends ApiRecorder {
  private started?: { db: TestDatabase; env?: TestWorkflowEnvironment; app: App };

  constructor(readonly config: Config) {
    super();
  }

  /** Set in beforeAll. */
  attach(started: { db: TestDatabase; env?: TestWorkflowEnvironment; app: App }): void {
    this.started = started;
  }

  private get parts() {
    if (!this.started) throw new Error('the API under test is not started (used outside a test?)');
    return this.started;
  }

  get db(): TestDatabase {
    return this.parts.db;
  }

  /** The Temporal dev server; only when started with `temporal: true`. */
  get env(): TestWorkflowEnvironment {
    const { env } = this.parts;
    if (!env) throw new Error('this file started the API without Temporal');
    return env;
  }

  get app(): App {
    return this.parts.app;
  }

  call(method: string, path: string, body?: unknown, options?: CallOptions): Promise<Res> {
    return callApp(this.app, this, method, path, body, options);
  }

  /** Opens the batch's event stream on the file's app. */
  async openEvents(batchId: string, headers: Record<string, string> = {}): Promise<SseReader> {
    const res = await this.app.request(`/batches/${batchId}/events`, { headers: { authorization: `Bearer ${API_KEY}`, ...headers } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    return new SseReader(res.body!, (e) => this.bodies.push(e.data));
  }
}

/**
 * Starts the API for one test file: a migrated database of its own, a Temporal dev server if `temporal`, and
 * the app in beforeAll; every table emptied and the queue running before each test; all torn down in afterAll.
 * Log lines are captured for the secret sweep.
 */
export function startApiUnderTest(options: { temporal: boolean; eventsIntervalMs?: number; env?: Record<string, string> }): ApiUnderTest {
  const api = new ApiUnderTest(loadConfig({ API_KEY, TEMPORAL_TASK_QUEUE: uniqueIds('api').taskQueue, ...options.env }));
  let db: TestDatabase | undefined;
  let env: TestWorkflowEnvironment | undefined;
  let previousSink: LogSink | undefined;

  beforeAll(async () => {
    previousSink = setLogSink((line) => api.logLines.push(line));
    [db, env] = await Promise.all([createTestDatabase(), options.temporal ? createLocalEnv() : undefined]);
    const app = createApp({
      sql: db.sql,
      temporal: env?.client ?? unusedTemporal(),
      config: api.config,
      logger: createLogger(),
      eventsIntervalMs: options.eventsIntervalMs ?? 50,
    });
    api.attach({ db, env, app });
  });

  afterAll(async () => {
    await env?.teardown();
    await db?.drop();
    if (previousSink) setLogSink(previousSink);
  });

  beforeEach(async () => {
    await api.db.sql`truncate batch_logs, batch_profiles, batches, profiles, niches, sessions, proxies cascade`;
    await api.db.sql`update queue_state set paused = false`;
  });

  return api;
}

/** One Server-Sent Event as a test reads it off the wire. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * Takes every complete event off the front of `buffer` (events end with a blank line); returns them and what
 * is left. Comment blocks (keep-alives) carry no data and are dropped.
 */
export function takeSseEvents(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  let rest = buffer;
  let end: number;
  while ((end = rest.indexOf('\n\n')) >= 0) {
    const block = rest.slice(0, end);
    rest = rest.slice(end + 2);
    const event: SseEvent = { event: 'message', data: '' };
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event.event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
      else if (line.startsWith('id: ')) event.id = line.slice(4);
    }
    if (data.length === 0) continue;
    event.data = data.join('\n');
    events.push(event);
  }
  return { events, rest };
}

/** Reads a text/event-stream body into events as they arrive, as EventSource does; `close()` drops the connection. */
export class SseReader {
  readonly events: SseEvent[] = [];
  readonly ended: Promise<void>;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(
    body: ReadableStream<Uint8Array>,
    private readonly onEvent: (event: SseEvent) => void = () => {},
  ) {
    this.reader = body.getReader();
    this.ended = this.pump().catch(() => {});
  }

  private async pump(): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { done, value } = await this.reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const taken = takeSseEvents(buffer);
      buffer = taken.rest;
      taken.events.forEach(this.onEvent);
      this.events.push(...taken.events);
    }
  }

  /** The messages of the `log` events so far, in order. */
  logs(): string[] {
    return this.events.filter((e) => e.event === 'log').map((e) => (JSON.parse(e.data) as { message: string }).message);
  }

  /** The id of the last `log` event: what EventSource sends back as Last-Event-ID. */
  lastEventId(): string | undefined {
    return this.events.filter((e) => e.event === 'log').at(-1)?.id;
  }

  /** The first event matching `predicate`, waiting for it up to `timeoutMs`. */
  async waitFor(predicate: (e: SseEvent) => boolean, timeoutMs = 10_000): Promise<SseEvent> {
    // only the events that arrived since the last look: a long stream stays linear
    let checked = 0;
    return waitFor(
      async () => {
        const found = this.events.slice(checked).find(predicate);
        checked = this.events.length;
        return found;
      },
      { timeoutMs, stepMs: 20, what: () => `event (${this.summary()})` },
    );
  }

  async close(): Promise<void> {
    await this.reader.cancel().catch(() => {});
    await this.ended;
  }

  private summary(): string {
    const counts = new Map<string, number>();
    for (const e of this.events) counts.set(e.event, (counts.get(e.event) ?? 0) + 1);
    const got = [...counts].map(([event, n]) => `${n} ${event}`).join(', ') || 'nothing';
    return `got ${got}, the last: ${JSON.stringify(this.events.at(-1))}`;
  }
}

/** The fields an API schema documents, sorted: what a shown item must carry, and nothing more. */
export function fieldsOf(schema: { shape: Record<string, unknown> }): string[] {
  return Object.keys(schema.shape).sort();
}
