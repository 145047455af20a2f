/**
 * `export_100k`: a batch of 100,000 profiles downloaded whole, as CSV and as NDJSON (docs/api.md, "Exports").
 *
 * 1. 100,000 profiles and their results in one batch are seeded in one statement (`insert ... select
 *    generate_series`): completed with and without a story, and failed with an error text that needs quoting.
 * 2. The real API (src/api/server.ts) runs in this process on a free port with its own pools, as in scale_100k.
 * 3. Each file is downloaded over HTTP by a client that only counts what it gets (its Buffers live outside the V8
 *    heap, so the heap is the API's): rows, bytes, time to the first byte of the body, total time. Meanwhile this
 *    process's heapUsed is sampled every few milliseconds from a full garbage collection before the request:
 *    the growth is its highest sample minus that start. That counts garbage not yet collected as well (V8 lets
 *    a few tens of MB of it pile up between collections), so each file is downloaded once more with a full
 *    collection every megabyte received: the live growth, what the API really holds while it streams.
 * 4. The seeded rows are removed at the end.
 */
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { startApi } from '../src/api/server.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logging/logger.js';
import { exportGoals, formatExport, type DownloadFigures, type ExportExtras } from './export-report.js';
import { round, type ScenarioFigures, type ScenarioSpec } from './figures.js';
import { collectGarbage, memoryMb } from './scale.js';
import { resetWorld, say, type World } from './world.js';

const PROFILES = 100_000;
const HEAP_SAMPLE_MS = 5;
/** Body received between two garbage collections of liveGrowth. */
const LIVE_PROBE_BYTES = 1_000_000;
/** A download that takes longer has failed the scenario. */
const DOWNLOAD_LIMIT_MS = 120_000;
const USERNAME_PREFIX = 'export_user_';
/** Needs every CSV escape: a comma, quotes, a line break. */
const ERROR_TEXT = 'upstream_error: the source said "no", then closed,\nmid-answer';
const LF = 0x0a;
const CR = 0x0d;

/** The batch and its 100,000 profiles in two statements; returns the batch's id. */
async function seed(world: World): Promise<string> {
  const [batch] = await world.db.sql<{ id: string }[]>`
    insert into batches (name, status, total_profiles) values ('bench export_100k', 'done', ${PROFILES}) returning id`;
  await world.db.sql`
    with created as (
      insert into profiles (username, active_story, total_checks)
      select ${USERNAME_PREFIX} || g, g % 4 = 0, 1 from generate_series(1, ${PROFILES}) g
      returning id, substr(username, ${USERNAME_PREFIX.length + 1})::int as n
    )
    insert into batch_profiles (batch_id, profile_id, ordinal, status, has_story, story_count, error, attempts, duration_ms, checked_at, source)
    select ${batch!.id}, id, n,
      case when n % 10 = 0 then 'failed' else 'completed' end,
      case when n % 10 = 0 then null else n % 4 = 0 end,
      case when n % 10 = 0 then null when n % 4 = 0 then 1 + n % 3 else 0 end,
      case when n % 10 = 0 then ${ERROR_TEXT} end,
      1, 20 + n % 200, now() - n * interval '1 millisecond',
      case when n % 10 = 0 then null else 'upstream' end
    from created`;
  return batch!.id;
}

async function unseed(world: World, batchId: string): Promise<void> {
  await world.db.sql`delete from batches where id = ${batchId}`;
  await world.db.sql`delete from profiles where username like ${`${USERNAME_PREFIX}%`}`;
}

/** Samples this process's heapUsed until stopped, from a collected heap. */
function heapSampler(): { stop(): { start: number; max: number; samples: number } } {
  collectGarbage();
  const start = process.memoryUsage().heapUsed;
  let max = start;
  let samples = 1;
  const timer = setInterval(() => {
    max = Math.max(max, process.memoryUsage().heapUsed);
    samples++;
  }, HEAP_SAMPLE_MS);
  return {
    stop() {
      clearInterval(timer);
      return { start, max: Math.max(max, process.memoryUsage().heapUsed), samples: samples + 1 };
    },
  };
}

/** Downloads one file, counting its bytes and records (CRLF for CSV, the header apart; LF for NDJSON). */
function download(
  url: string,
  format: 'csv' | 'ndjson',
  onBytes: (bytes: number) => void = () => {},
): Promise<{ bytes: number; rows: number; firstByteMs: number; totalMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let firstByteMs = -1;
    let bytes = 0;
    let lineEnds = 0;
    let previous = 0;
    const req = request(url, { timeout: DOWNLOAD_LIMIT_MS }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`the ${format} export answered ${res.statusCode}`));
      // the chunks stay Buffers, outside the V8 heap: the heap sampled is the API's, not this client's
      res.on('data', (chunk: Buffer) => {
        if (firstByteMs < 0) firstByteMs = performance.now() - started;
        bytes += chunk.length;
        for (let i = chunk.indexOf(LF); i >= 0; i = chunk.indexOf(LF, i + 1)) {
          // a CSV record ends in CRLF; an LF alone is inside a quoted field
          const before = i > 0 ? chunk[i - 1] : previous;
          if (format === 'ndjson' || before === CR) lineEnds++;
        }
        previous = chunk[chunk.length - 1] ?? previous;
        onBytes(bytes);
      });
      res.on('end', () => {
        const rows = format === 'csv' ? lineEnds - 1 : lineEnds;
        resolve({ bytes, rows, firstByteMs, totalMs: performance.now() - started });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`the ${format} export took over ${DOWNLOAD_LIMIT_MS / 1000} s`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * The heap the API keeps while it streams: a full garbage collection every LIVE_PROBE_BYTES of body received, and
 * heapUsed then, above a collected start (a second download of the same file, so that the probes' pauses do not
 * touch the timed one).
 */
async function liveGrowth(url: string, format: 'csv' | 'ndjson'): Promise<{ maxBytes: number; probes: number }> {
  collectGarbage();
  const start = process.memoryUsage().heapUsed;
  let next = LIVE_PROBE_BYTES;
  let maxBytes = 0;
  let probes = 0;
  await download(url, format, (bytes) => {
    if (bytes < next) return;
    next += LIVE_PROBE_BYTES;
    collectGarbage();
    maxBytes = Math.max(maxBytes, process.memoryUsage().heapUsed - start);
    probes++;
  });
  return { maxBytes, probes };
}

async function measured(apiUrl: string, batchId: string, format: 'csv' | 'ndjson'): Promise<DownloadFigures> {
  const url = `${apiUrl}/batches/${batchId}/profiles?format=${format}`;
  const heap = heapSampler();
  const got = await download(url, format).catch((err: unknown) => {
    heap.stop();
    throw err;
  });
  const sampled = heap.stop();
  if (got.rows !== PROFILES) throw new Error(`the ${format} export holds ${got.rows} rows, not ${PROFILES}`);
  const live = await liveGrowth(url, format);
  const mb = (bytes: number) => round(bytes / 2 ** 20, 1);
  return {
    format,
    rows: got.rows,
    bytes: got.bytes,
    first_byte_ms: round(got.firstByteMs, 0),
    total_ms: round(got.totalMs, 0),
    rows_per_s: round(got.rows / (got.totalMs / 1000), 0),
    heap_growth_mb: mb(sampled.max - sampled.start),
    heap_start_mb: mb(sampled.start),
    heap_max_mb: mb(sampled.max),
    heap_samples: sampled.samples,
    live_heap_growth_mb: mb(live.maxBytes),
    live_heap_probes: live.probes,
  };
}

export async function runExport(world: World, spec: ScenarioSpec): Promise<ScenarioFigures> {
  say(`${spec.name}: a batch of ${PROFILES} profiles downloaded as CSV and as NDJSON from the API in this process`);
  await resetWorld(world, spec);
  const seedStarted = performance.now();
  const batchId = await seed(world);
  const seedS = round((performance.now() - seedStarted) / 1000, 1);
  const config = loadConfig({ ...world.baseEnv, HOST: '127.0.0.1', TEMPORAL_TASK_QUEUE: `${world.taskQueue}-api-only` });
  const api = await startApi({ config, temporal: world.env.client, port: 0, logger: createLogger({ component: 'bench-api' }) });
  try {
    // once untimed: the API's first request builds what every later one reuses (statements, the dashboard)
    await download(`${api.url}/batches/${batchId}/profiles?format=ndjson&status=failed`, 'ndjson');
    const downloads = [await measured(api.url, batchId, 'csv'), await measured(api.url, batchId, 'ndjson')];
    const figures = exportFigures(world, spec, seedS, downloads);
    say(formatExport(figures));
    return figures;
  } finally {
    await api.close();
    await unseed(world, batchId);
  }
}

function exportFigures(world: World, spec: ScenarioSpec, seedS: number, downloads: DownloadFigures[]): ScenarioFigures & ExportExtras {
  const seconds = downloads.reduce((sum, d) => sum + d.total_ms, 0) / 1000;
  return {
    name: spec.name,
    profiles: PROFILES,
    proxies: world.options.proxies,
    per_proxy_rate: 0,
    latency_ms: 0,
    seconds: round(seconds, 2),
    // no check runs here: the downloads' figures are in `downloads`
    checks_per_s: 0,
    ideal_checks_per_s: null,
    ratio_to_ideal: null,
    upstream_requests_per_profile: 0,
    max_history_events: null,
    worker_rss_mb: round(process.memoryUsage().rss / 2 ** 20, 0),
    seed_s: seedS,
    downloads,
    api_heap_mb_end: memoryMb().heap,
    goals: exportGoals(downloads),
  };
}
