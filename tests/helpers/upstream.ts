/**
 * The story client against the simulator, through real local forward proxies (tests/integration/upstream*):
 * one simulator and three proxies per test file, the simulator's settings restored before each test, every
 * log line and every failure message kept for the secrets sweep.
 */
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { startForwardProxies, type ForwardProxies } from '../../src/local/forward-proxies.js';
import { createLogger, setLogLevel, setLogSink, type LogSink } from '../../src/logging/logger.js';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/simulator/app.js';
import type { UpstreamFailure } from '../../src/upstream/errors.js';
import { StoryClient, type UpstreamTarget } from '../../src/upstream/story-client.js';

export const PROXY_USER = 'demo-user';
export const PROXY_PASSWORD = 'Pr0xy-Passw0rd-xyz';
export const SESSION = 'sess-Secret-Token-4242';
export const APP_ID = '936619743392459';
export const SECRETS = [PROXY_PASSWORD, SESSION, Buffer.from(`${PROXY_USER}:${PROXY_PASSWORD}`).toString('base64')];

/** Every setting a test may change, at its neutral value (restored before each test). */
export const BASE: SimulatorOptions = {
  // every behaviour back to the friendly source's first, then these
  profile: 'friendly',
  appId: APP_ID,
  storyRate: 0.3,
  expiredRate: 0.1,
  privateRate: 0,
  missingUsernames: ['ghost'],
  overrides: {
    live_three: { story: 'live', liveItems: 3 },
    only_expired: { story: 'expired' },
    no_story: { story: 'none' },
    broken_reel: { malformedReel: true },
  },
  notFoundStyle: '404',
  latencyMs: 0,
  jitterMs: 0,
  ratePerSecond: 0,
  burst: undefined,
  retryAfter: true,
  rateLimitStyle: '429',
  requireSession: false,
  invalidSessions: [],
  checkpointSessions: [],
  errorRate: 0,
  malformedRate: 0,
  malformedReelRate: 0,
  slowRate: 0,
  slowMs: 5_000,
  resetRate: 0,
};

export interface UpstreamUnderTest {
  readonly sim: RunningSimulator;
  readonly proxies: ForwardProxies;
  /** A client made in beforeAll. */
  readonly client: StoryClient;
  readonly logLines: string[];
  readonly errorMessages: string[];
  makeClient(overrides?: { baseUrl?: string; timeoutMs?: number; maxAnswerBytes?: number }): StoryClient;
  /** The authenticated proxy `index` with the session, as the pool would lease it. */
  target(index: number, extra?: Partial<UpstreamTarget>): UpstreamTarget;
  /** Awaits a call expected to fail with `kind`, keeping its message for the secrets sweep. */
  failure<T extends UpstreamFailure>(call: Promise<unknown>, kind: abstract new (...args: never[]) => T): Promise<T>;
  userIds(usernames: string[]): string[];
  /** No secret in any failure message or log line of the file so far. */
  expectNoSecrets(): void;
}

/** Starts the simulator and the proxies for one test file (beforeAll), and stops them (afterAll). */
export function startUpstreamUnderTest(): UpstreamUnderTest {
  let sim: RunningSimulator | undefined;
  let proxies: ForwardProxies | undefined;
  let client: StoryClient | undefined;
  const clients: StoryClient[] = [];
  const logLines: string[] = [];
  const errorMessages: string[] = [];
  let previousSink: LogSink;
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the simulator is not started (used outside a test?)');
    return value;
  };

  function makeClient(overrides: { baseUrl?: string; timeoutMs?: number; maxAnswerBytes?: number } = {}): StoryClient {
    const c = new StoryClient({
      baseUrl: overrides.baseUrl ?? started(sim).url,
      appId: APP_ID,
      userAgent: 'storycheck-test/1.0',
      timeoutMs: overrides.timeoutMs ?? 5_000,
      ...(overrides.maxAnswerBytes !== undefined ? { maxAnswerBytes: overrides.maxAnswerBytes } : {}),
      logger: createLogger({ component: 'story-client-test' }),
    });
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    previousSink = setLogSink((line) => logLines.push(line));
    setLogLevel('debug');
    sim = await startSimulator(BASE);
    proxies = await startForwardProxies({ count: 3, auth: { username: PROXY_USER, password: PROXY_PASSWORD } });
    client = makeClient();
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await proxies?.close();
    await sim?.close();
    setLogSink(previousSink);
    setLogLevel('info');
  });

  beforeEach(() => {
    started(sim).setOptions(BASE);
    started(sim).reset();
  });

  return {
    get sim() {
      return started(sim);
    },
    get proxies() {
      return started(proxies);
    },
    get client() {
      return started(client);
    },
    logLines,
    errorMessages,
    makeClient,
    target(index, extra = {}) {
      const p = started(proxies).proxies[index]!;
      return { proxyId: `proxy-${index}`, proxyUrl: p.url, proxyUsername: PROXY_USER, proxyPassword: PROXY_PASSWORD, sessionToken: SESSION, ...extra };
    },
    async failure(call, kind) {
      const err = await call.then(
        () => {
          throw new Error(`expected ${kind.name}, the call succeeded`);
        },
        (e: unknown) => e,
      );
      if (err instanceof Error) errorMessages.push(err.message);
      expect(err).toBeInstanceOf(kind);
      return err as never;
    },
    userIds: (usernames) => usernames.map((u) => started(sim).simulator.population.userIdOf(u)),
    expectNoSecrets() {
      for (const text of [...errorMessages, ...logLines]) {
        for (const secret of SECRETS) expect(text).not.toContain(secret);
      }
    },
  };
}
