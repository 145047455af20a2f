/**
 * The service's section (`npm run api`, `npm run worker`, `npm run migrate`, and the service inside `npm run
 * dev`): what docs/operations.md describes, and the rules between its variables.
 */
import { z } from 'zod';
import { DB_DEFAULTS } from '../db/sql.js';
import { MAX_AGE_S } from '../enums.js';
import { flag, httpUrl, int, number, port, postgresUrl, type Relation } from './fields.js';

/**
 * Longest wait for a send time a proxy slot may be given: the pool offers no proxy whose schedule is further
 * out (src/pool/pool.ts). PROXY_LEASE_MS must exceed it plus CHECK_TIMEOUT_MS, so that no slot expires, and is
 * reclaimed for another request, while its own request still waits or is in flight.
 */
export const MAX_SEND_WAIT_MS = 5_000;

export const serviceShape = {
  DATABASE_URL: postgresUrl.default('postgres://postgres@127.0.0.1:5432/storycheck'),
  /** Connections of the API's pool for request handling (event streams, /metrics and /readyz have their own). */
  API_DATABASE_POOL: int(2, 1000).default(10),
  /** How long a transaction waits for a free connection before the request answers 503 (src/db/guard.ts). */
  DATABASE_POOL_TIMEOUT_MS: int(100, 600_000).default(DB_DEFAULTS.acquireTimeoutMs),
  /** Postgres statement_timeout on the product's connections (0 = none): the server cancels a longer statement. */
  DATABASE_STATEMENT_TIMEOUT_MS: int(0).default(DB_DEFAULTS.statementTimeoutMs),
  /** Postgres idle_in_transaction_session_timeout (0 = none): a transaction left idle is ended, its locks freed. */
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: int(0).default(DB_DEFAULTS.idleInTransactionTimeoutMs),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:/]+:\d{1,5}$/, 'must be host:port')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('storycheck'),
  /** Whether the server has the BatchId/BatchStatus search attributes (`npm run dev` registers them). */
  TEMPORAL_SEARCH_ATTRIBUTES: flag('true'),
  STORY_API_BASE_URL: httpUrl().default('http://127.0.0.1:4100'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port().default(3000),
  API_KEY: z.string().min(8, 'must be at least 8 characters').optional(),
  /** The Temporal Web UI the dashboard links a batch's workflow to (`npm run dev` sets its dev server's). */
  TEMPORAL_UI_URL: httpUrl()
    .transform((v) => v.replace(/\/+$/, ''))
    .optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** Serve `GET /metrics` of the API without the key even when API_KEY is set (a scraper inside a trusted network). */
  METRICS_PUBLIC: flag('false'),
  /** A worker's own metrics port (its checks and the Temporal SDK's metrics); unset: none, 0: any free port. */
  WORKER_METRICS_PORT: port().optional(),
  WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * A workflow bundle built ahead (`npm run bundle:workflows`): the worker loads it instead of bundling the
   * workflow code at every start, which takes seconds of CPU. Unset: bundled at start.
   */
  WORKFLOW_BUNDLE: z.string().min(1).optional(),
  BATCH_CONCURRENCY: int(1, 256).default(8),
  /**
   * Activities one worker runs at once (chunks, the queue's own short activities, health probes). Unset: twice
   * BATCH_CONCURRENCY, at least 8, so one worker can carry a whole batch; set it to spread a batch over workers.
   */
  WORKER_ACTIVITY_SLOTS: int(1, 4096).optional(),
  /** Profiles handed out per BatchWorkflow run before it continues-as-new (keeps each history short). */
  BATCH_PROFILES_PER_RUN: int(1).default(2_000),
  /** No progress for this long while nothing can be sent: the batch shows stalled_reason. */
  BATCH_STALL_AFTER_MS: int(1_000).default(120_000),
  /** How often the proxy-health schedule probes resting and failure-disabled proxies and invalid sessions. */
  PROXY_HEALTH_INTERVAL_MS: int(1_000).default(300_000),
  /** Story events, and story items ended, older than this many days are deleted by the retention schedule. */
  STORY_RETENTION_DAYS: int(1).default(90),
  /** Batch logs older than this many days are deleted by the retention schedule. */
  LOG_RETENTION_DAYS: int(1).default(30),
  /**
   * Finished batches (done, cancelled, error) older than this many days are deleted with their profiles' results
   * and logs. Unset: batches are kept.
   */
  BATCH_RETENTION_DAYS: int(1).optional(),
  /** How often the retention schedule runs a round. */
  RETENTION_INTERVAL_MS: int(1_000).default(3_600_000),
  /**
   * Hosts a webhook may be sent to over plain http, and whose addresses may be private or loopback (comma
   * separated host names or IP addresses). Empty: https only, and only to public addresses.
   */
  WEBHOOK_ALLOW_HOSTS: z
    .string()
    .optional()
    .transform((v) => (v ?? '').split(',').map((h) => h.trim().toLowerCase()).filter((h) => h.length > 0)),
  /** How long one webhook request may take, answer included. */
  WEBHOOK_TIMEOUT_MS: int(100, 120_000).default(10_000),
  /** The wait before a failed delivery's first retry; each next wait doubles, up to WEBHOOK_RETRY_MAX_INTERVAL_MS. */
  WEBHOOK_RETRY_INITIAL_MS: int(100).default(60_000),
  WEBHOOK_RETRY_MAX_INTERVAL_MS: int(100).default(8 * 3_600_000),
  /** Attempts of one delivery; with the defaults the last one comes about 3 days after the first. */
  WEBHOOK_RETRY_MAX_ATTEMPTS: int(1, 1000).default(18),
  /** An endpoint whose deliveries have failed, with no success in between, for this long is disabled. */
  WEBHOOK_DISABLE_AFTER_MS: int(1_000).default(3 * 86_400_000),
  /** How long an endpoint's previous secret keeps signing beside the new one after a rotation. */
  WEBHOOK_SECRET_OVERLAP_MS: int(0).default(86_400_000),
  /**
   * Webhook requests one worker sends at once. Deliveries run on a task queue of their own
   * (`<TEMPORAL_TASK_QUEUE>-webhooks`) with these slots, so a flood of them never takes a batch's chunks' slots.
   */
  WEBHOOK_CONCURRENCY: int(1, 1024).default(16),
  /** How often a worker looks for deliveries no workflow was started for (a NOTIFY wakes it at once otherwise). */
  WEBHOOK_DISPATCH_INTERVAL_MS: int(100).default(5_000),
  /** Profiles per upstream stories request: the upstream allows at most 50 (docs/upstream.md). */
  CHECK_CHUNK_SIZE: int(1, 50).default(50),
  /**
   * The default max_age_s of a new batch: a profile whose last successful upstream check is younger than this
   * many seconds is answered from it, with no request (0 = always ask the upstream).
   */
  CHECK_MAX_AGE_S: int(0, MAX_AGE_S).default(0),
  CHECK_MAX_ATTEMPTS: int(1, 100).default(5),
  CHECK_INITIAL_INTERVAL_MS: int(1).default(1_000),
  CHECK_MAX_INTERVAL_MS: int(1).default(60_000),
  CHECK_BACKOFF: number(1, 100).default(2),
  CHECK_TIMEOUT_MS: int(100).default(30_000),
  /** Upper bound of one chunk attempt (user-id lookups plus the stories request, through one proxy). */
  CHECK_CHUNK_TIMEOUT_MS: int(1_000).default(300_000),
  /** A worker that dies mid-chunk is noticed after this long and the chunk is retried elsewhere. */
  CHECK_HEARTBEAT_TIMEOUT_MS: int(1_000).default(60_000),
  PROXY_COOLDOWN_MS: int(0).default(60_000),
  PROXY_MAX_CONSECUTIVE_FAILURES: int(1).default(5),
  PROXY_LEASE_MS: int(1_000).default(120_000),
  /** Requests through one proxy at once: they overlap, paced by the proxy's rate (a proxy is a rate, not a lock). */
  PROXY_MAX_IN_FLIGHT: int(1, 64).default(4),
  /**
   * Pacing floor: the least time between two requests through one proxy (0 = none). Each proxy's rate is
   * learned from its 429s anyway; set this to 1000 / the upstream's per-address rate when it is known, and
   * the limit is met by spacing requests from the first one on instead of being discovered.
   */
  PROXY_MIN_INTERVAL_MS: int(0, 3_600_000).default(0),
  /** Requests carried by one session (an upstream login) at once. */
  SESSION_MAX_IN_FLIGHT: int(1, 64).default(4),
  UPSTREAM_APP_ID: z.string().min(1).default('936619743392459'),
  UPSTREAM_USER_AGENT: z.string().min(1).default('storycheck/0.1 (+https://github.com/storycheck)'),
  /** Read where the binaries are looked for (src/local/temporal-binaries.ts); validated here with the rest. */
  TEMPORAL_CLI_PATH: z.string().min(1).optional(),
  TEMPORAL_TEST_SERVER_PATH: z.string().min(1).optional(),
};

/** Each in-flight chunk holds one activity slot; the rest leaves room for the queue's own short activities. */
function defaultActivitySlots(batchConcurrency: number): number {
  return Math.max(8, batchConcurrency * 2);
}

export const serviceSchema = z
  .object(serviceShape)
  .transform((c) => ({ ...c, WORKER_ACTIVITY_SLOTS: c.WORKER_ACTIVITY_SLOTS ?? defaultActivitySlots(c.BATCH_CONCURRENCY) }));

export type Config = z.output<typeof serviceSchema>;

/** Defaults the section computes from other values, as the README words them. */
export const serviceComputedDefaults: Partial<Record<keyof typeof serviceShape, string>> = {
  WORKER_ACTIVITY_SLOTS: 'twice BATCH_CONCURRENCY, at least 8',
};

export const serviceRelations: readonly Relation<Config>[] = [
  {
    variables: ['CHECK_MAX_INTERVAL_MS', 'CHECK_INITIAL_INTERVAL_MS'],
    problem: (c) =>
      c.CHECK_MAX_INTERVAL_MS >= c.CHECK_INITIAL_INTERVAL_MS
        ? null
        : `CHECK_MAX_INTERVAL_MS (${c.CHECK_MAX_INTERVAL_MS}) must not be below CHECK_INITIAL_INTERVAL_MS (${c.CHECK_INITIAL_INTERVAL_MS})`,
  },
  {
    variables: ['WEBHOOK_RETRY_MAX_INTERVAL_MS', 'WEBHOOK_RETRY_INITIAL_MS'],
    problem: (c) =>
      c.WEBHOOK_RETRY_MAX_INTERVAL_MS >= c.WEBHOOK_RETRY_INITIAL_MS
        ? null
        : `WEBHOOK_RETRY_MAX_INTERVAL_MS (${c.WEBHOOK_RETRY_MAX_INTERVAL_MS}) must not be below WEBHOOK_RETRY_INITIAL_MS (${c.WEBHOOK_RETRY_INITIAL_MS})`,
  },
  {
    // a chunk heartbeats after every request (src/check/proxied-request.ts): one request, which may last
    // CHECK_TIMEOUT_MS, must fit between two heartbeats, or a live chunk is taken for a dead worker's
    variables: ['CHECK_HEARTBEAT_TIMEOUT_MS', 'CHECK_TIMEOUT_MS'],
    problem: (c) =>
      c.CHECK_HEARTBEAT_TIMEOUT_MS > c.CHECK_TIMEOUT_MS
        ? null
        : `CHECK_HEARTBEAT_TIMEOUT_MS (${c.CHECK_HEARTBEAT_TIMEOUT_MS}) must be above CHECK_TIMEOUT_MS (${c.CHECK_TIMEOUT_MS}): ` +
          'a chunk heartbeats between requests, so one request must fit in the heartbeat timeout',
  },
  {
    // a slot reclaimed while its request still waits or is in flight lets one request too many through the
    // proxy; the lease runs from the send time, which a busy machine's timers may pass late, and the send
    // wait's bound is the margin that covers such lateness
    variables: ['PROXY_LEASE_MS', 'CHECK_TIMEOUT_MS'],
    problem: (c) =>
      c.PROXY_LEASE_MS > c.CHECK_TIMEOUT_MS + MAX_SEND_WAIT_MS
        ? null
        : `PROXY_LEASE_MS (${c.PROXY_LEASE_MS}) must be above CHECK_TIMEOUT_MS (${c.CHECK_TIMEOUT_MS}) + ${MAX_SEND_WAIT_MS} ` +
          '(the longest wait for a send time), or a slot can be reclaimed mid-request',
  },
];

/**
 * Connections of a worker's Postgres pool: one for each activity slot, one for every four webhook sends (a send
 * holds no connection while its request is out, only for the short statements around it), and a few for the
 * queue watch, the health schedule and the webhook dispatcher (and the one the pool keeps free of transactions,
 * see src/db/guard.ts).
 */
export function workerDatabasePool(config: Pick<Config, 'WORKER_ACTIVITY_SLOTS' | 'WEBHOOK_CONCURRENCY'>): number {
  return Math.max(10, config.WORKER_ACTIVITY_SLOTS + Math.ceil(config.WEBHOOK_CONCURRENCY / 4) + 4);
}
