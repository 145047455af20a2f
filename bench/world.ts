/**
 * The benchmark's world, set up once and reset before each scenario. Everything is real and local, in this
 * process unless said otherwise: a Postgres database of the benchmark's own (random name, migrated, dropped
 * at the end), the upstream simulator (docs/upstream.md) with a token bucket per client address (`rate`
 * requests/s, `burst` tokens, default one second's worth, as the simulator's own default) and a fixed
 * latency, N forward proxies (Basic auth, each leaving from its own loopback address, so each has its own
 * bucket) registered in the proxies table, a Temporal dev server (a child process: the `temporal` CLI of
 * .temporal/venv, in memory, search attributes off) and a worker (`createWorker`, the product's workflows and
 * activities; BATCH_CONCURRENCY = proxies × 4, the default PROXY_MAX_IN_FLIGHT, unless told), whose story client and pool carry the stopwatch of
 * bench/probe.ts.
 *
 * Everything started here registers how to stop it with the run's Shutdown.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { createChecker } from '../src/check/checker.js';
import { loadBenchProcess, loadConfig, type Config } from '../src/config.js';
import { createCheckDependencies, type CheckDependencies } from '../src/worker/dependencies.js';
import { standInPostgres } from '../src/local/embedded-postgres.js';
import type { ForwardProxies } from '../src/local/forward-proxies.js';
import { startPoolProxies } from '../src/dev/pool-proxies.js';
import { freePort } from '../src/local/ports.js';
import { createScratchDatabase, type ScratchDatabase } from '../src/local/scratch-database.js';
import type { Shutdown } from '../src/process/shutdown.js';
import { ensureTemporalBinaries } from '../src/local/temporal-binaries.js';
import { startDevTemporalServer } from '../src/local/temporal-server.js';
import { createLogger } from '../src/logging/logger.js';
import { claimNextBatch, createBatch } from '../src/repos/queue.js';
import { upsertProfiles } from '../src/repos/profiles.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/app.js';
import { createWorker } from '../src/worker/worker.js';
import { bundleWorkflows } from '../src/worker/workflow-bundle.js';
import { PACING_MARGIN_MS, type BenchOptions, type ScenarioSpec } from './figures.js';
import { BenchStoryClient, Probe, timedPool } from './probe.js';

const PROXY_USERNAME = 'bench-user';
const PROXY_PASSWORD = `bench-${randomBytes(6).toString('hex')}`;

/** Progress goes to stderr: stdout carries only the table. */
export const say = (line: string) => process.stderr.write(`${line}\n`);

export interface World {
  options: BenchOptions;
  db: ScratchDatabase;
  sim: RunningSimulator;
  proxies: ForwardProxies;
  baseEnv: Record<string, string>;
  config: Config;
  /** The worker's dependencies: the product's, with the stopwatch client and pool (see Probe). */
  deps: CheckDependencies;
  client: BenchStoryClient;
  probe: Probe;
  env: TestWorkflowEnvironment;
  taskQueue: string;
  /** Rejects when the worker stops unexpectedly. */
  workerDone: Promise<never>;
  /** The workflow code the worker runs, for a worker process a scenario starts (WORKFLOW_BUNDLE). */
  workflowBundle: { code: string };
  profileIds: string[];
  usernames: string[];
  /** The source the proxies' pacing was learned against (it is forgotten when the source changes). */
  learnedFor?: string;
  /** The Basic auth of the local forward proxies (a scenario may start more). */
  proxyAuth: { username: string; password: string };
  /** PROXY_COOLDOWN_MS as configured; a time-scaled scenario sets its own. */
  defaultCooldownMs: number;
  /** Aborted by Ctrl-C / SIGTERM: no further scenario starts and no results are written. */
  interrupted: AbortSignal;
}

function never(message: string): never {
  throw new Error(message);
}

export async function setUp(options: BenchOptions, shutdown: Shutdown, interrupted: AbortSignal): Promise<World> {
  const t0 = performance.now();
  // DATABASE_URL's server (default: the local one; an embedded one there when none answers)
  const serverUrl = loadBenchProcess().databaseAdminUrl;
  const standIn = await standInPostgres(serverUrl, { durable: true });
  if (standIn) {
    shutdown.add('embedded Postgres', () => standIn.close());
    console.error(`no Postgres answered at ${new URL(serverUrl).host}: the benchmark runs on an embedded Postgres there`);
  }
  const db = await createScratchDatabase({
    serverUrl,
    prefix: 'storycheck_bench',
    max: 24,
  });
  shutdown.add('database', () => db.drop());

  const sim = await startSimulator({ ratePerSecond: options.rate, burst: options.burst, latencyMs: options.latencyMs, seed: 'storycheck-bench' });
  shutdown.add('simulator', () => sim.close());
  const proxies = await startPoolProxies(db.sql, { count: options.proxies, auth: { username: PROXY_USERNAME, password: PROXY_PASSWORD } });
  shutdown.add('forward proxies', () => proxies.close());

  const baseEnv: Record<string, string> = {
    DATABASE_URL: db.url,
    STORY_API_BASE_URL: sim.url,
    TEMPORAL_SEARCH_ATTRIBUTES: 'false',
    BATCH_CONCURRENCY: String(options.concurrency),
    LOG_LEVEL: 'silent',
  };
  const config = loadConfig(baseEnv);
  const logger = createLogger({ component: 'bench' });
  const product = await createCheckDependencies(config, { sql: db.sql, logger });
  shutdown.add('check dependencies', () => product.close());
  // the same parts, with a stopwatch on the story client and the pool
  const probe = new Probe();
  const client = new BenchStoryClient(
    { baseUrl: config.STORY_API_BASE_URL, appId: config.UPSTREAM_APP_ID, userAgent: config.UPSTREAM_USER_AGENT, timeoutMs: config.CHECK_TIMEOUT_MS, logger },
    probe,
  );
  shutdown.add('story client', () => client.close());
  const pool = timedPool(product.pool, probe);
  const checker = createChecker({ sql: db.sql, pool, client, config, clock: pool.now });
  const deps: CheckDependencies = { ...product, pool, client, checker };

  const usernames = Array.from({ length: options.profiles }, (_, i) => `bench_user_${i}`);
  const { items } = await upsertProfiles(db.sql, usernames);
  const profileIds = items.map((p) => p.id);

  const env = await startTemporal(shutdown, options.eager);
  const bundle = await bundleWorkflows((m) => say(m));
  const taskQueue = `bench-${randomBytes(4).toString('hex')}`;
  const worker = await createWorker({ connection: env.nativeConnection, namespace: 'default', taskQueue, config, deps, workflowBundle: bundle });
  const running = worker.run();
  // a worker that stops on its own is an error, surfaced by the scenario waiting on it
  const workerDone = running.then(
    () => never('the worker stopped'),
    (err: unknown) => never(`the worker failed: ${(err as Error)?.message ?? String(err)}`),
  );
  workerDone.catch(() => {});
  shutdown.add('worker', async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => {});
  });

  say(`set up in ${((performance.now() - t0) / 1000).toFixed(1)} s: database, simulator, ${options.proxies} proxies, Temporal dev server, worker`);
  return {
    options, db, sim, proxies, baseEnv, config, deps, client, probe, env, taskQueue, workerDone, profileIds, usernames, interrupted,
    workflowBundle: { code: bundle.code },
    defaultCooldownMs: config.PROXY_COOLDOWN_MS,
    proxyAuth: { username: PROXY_USERNAME, password: PROXY_PASSWORD },
  };
}

/**
 * A Temporal dev server (in memory, no UI) from the project's `temporal` CLI, as a child process of ours with
 * its output kept off our stdout (the table is the only thing printed there), and a test environment
 * connected to it. Without the CLI, the SDK's own download via createLocal.
 */
async function startTemporal(shutdown: Shutdown, eagerActivities: boolean): Promise<TestWorkflowEnvironment> {
  const { cli } = ensureTemporalBinaries(say);
  if (!cli) {
    const env = await TestWorkflowEnvironment.createLocal({ server: { log: { format: 'pretty', level: 'error' } } });
    shutdown.add('Temporal dev server', () => env.teardown());
    return env;
  }
  const server = await startDevTemporalServer({
    cli,
    host: '127.0.0.1',
    port: await freePort(),
    uiPort: null,
    namespace: 'default',
    eagerActivities,
    logger: createLogger({ component: 'bench' }),
  }).catch((err: unknown) => {
    throw new Error(`the Temporal dev server did not come up: ${(err as Error).message}`);
  });
  shutdown.add('Temporal dev server', () => server.stop(10_000));
  // the server answered on this connection; the test environment makes its own
  await server.connection.close();
  const env = await TestWorkflowEnvironment.createFromExistingServer({ address: server.address });
  shutdown.add('Temporal connections', () => env.teardown());
  return env;
}

/**
 * The state a scenario declares, whatever ran before it: the simulator back to the friendly profile with this
 * scenario's latency, rate and source behaviour (setOptions keeps every setting it is not given, so each one a
 * scenario may change is given here), its checkpoints cleared; fresh counters and buckets; proxies active and
 * rested (those an operator disabled stay so), and on a cold start their pacing forgotten.
 */
export async function resetWorld(world: World, spec: ScenarioSpec): Promise<void> {
  world.sim.setOptions({
    profile: 'friendly',
    clearCheckpoints: true,
    latencyMs: spec.latencyMs,
    jitterMs: 0,
    ratePerSecond: spec.rate,
    burst: spec.burst ?? world.options.burst,
    rateLimitShare: spec.storm ? 0.3 : 0,
    errorRate: spec.storm ? 0.05 : 0,
    requireSession: false,
    invalidSessions: [],
    checkpointSessions: [],
    ...spec.source,
  });
  world.sim.reset();
  world.probe.reset();
  // the product's pacing (PROXY_MIN_INTERVAL_MS, read by the checker on every chunk), with a margin:
  // requests through a proxy hop do not arrive exactly as spaced
  world.config.PROXY_MIN_INTERVAL_MS = spec.paced && spec.rate > 0 ? Math.ceil(1000 / spec.rate + PACING_MARGIN_MS) : 0;
  world.config.PROXY_COOLDOWN_MS = spec.cooldownMs ?? world.defaultCooldownMs;
  // Learned pacing carries over from one scenario to the next, as from one batch to the next in production,
  // unless the source changed (or the scenario measures learning from nothing). Its state is proxies.pacing;
  // the other columns are what it yields.
  const sourceKey = JSON.stringify({ rate: spec.rate, burst: spec.burst ?? world.options.burst, source: spec.source ?? null });
  const forget = sourceKey !== world.learnedFor || spec.coldStart === true;
  world.learnedFor = sourceKey;
  await forgetRests(world, forget);
}

/** Every slot freed and every rest ended; with `forget`, every proxy's pacing back to nothing learned. */
export async function forgetRests(world: World, forget: boolean): Promise<void> {
  const sql = world.db.sql;
  await sql`delete from proxy_slots`;
  await sql`update sessions set in_flight = 0`;
  await sql`
    update proxies set status = 'active', disabled_reason = null, rest_reason = null, rate_limited_until = null,
      next_free_at = null, in_flight = 0, consecutive_failures = 0, blocked_strikes = 0,
      ${
        forget
          ? sql`pacing = null, pace_interval_ms = 0, learned_rate_per_s = null`
          : // a rest the pacing remembers would make its first answers look like a window that has not cleared
            sql`pacing = case when pacing is null then null else jsonb_set(pacing, '{rest}', 'null'::jsonb) end`
      }
    where disabled_reason is distinct from 'operator'`;
}

/** Caches every profile's user id as a first check would (when first_check itself did not). */
export async function cacheUserIds(world: World): Promise<void> {
  const ids = world.usernames.map((u) => world.sim.simulator.population.lookup(u)?.userId ?? '');
  await world.db.sql`
    update profiles p set upstream_user_id = t.uid, is_private = false
    from unnest(${world.usernames}::text[], ${ids}::text[]) as t(username, uid)
    where p.username = t.username and t.uid <> ''`;
}

export async function clearUserIds(world: World): Promise<void> {
  await world.db.sql`update profiles set upstream_user_id = null, is_private = null`;
}

/** A running batch over every profile, as the queue runner would claim it. */
export async function runningBatch(
  world: World,
  name: string,
  maxAgeS = 0,
  profileIds: string[] = world.profileIds,
): Promise<{ batchId: string; workflowId: string }> {
  const created = await createBatch(world.db.sql, { profileIds, name: `bench ${name}`, maxAgeS });
  const claimed = await claimNextBatch(world.db.sql);
  if (!claimed || claimed.id !== created.id) throw new Error(`claimNextBatch did not pick the ${name} batch (another is running)`);
  return { batchId: claimed.id, workflowId: claimed.workflow_id! };
}
