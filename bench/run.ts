/**
 * `npm run bench`: end-to-end throughput of checking profiles, against the physical limit set by per-proxy
 * rate limits. Prints a summary table on stdout (progress on stderr) and writes bench/results/latest.json
 * (docs/operations.md, "Benchmark output"). bench/README.md says how to read it.
 *
 * The parts: bench/world.ts sets up what the scenarios run on (database, simulator, proxies, Temporal dev
 * server, worker) and resets it between them; bench/probe.ts is the stopwatch on the worker's story client
 * and pool; bench/scenarios.ts lists the scenarios (names are contract) and runs them, the ideal among their
 * bounds (bench/scenario-figures.ts computes their figures); bench/runs.ts runs a scenario's batch (BatchWorkflow, or the checker as a plain loop);
 * bench/figures.ts holds the options, the ideal's arithmetic and the table. bench/scale.ts, bench/api-load.ts and
 * bench/export.ts are the three scenarios that drive the real API (scale_100k, api_load, export_100k); bench/watch-fanout.ts
 * drives it with a worker process of its own (watch_fanout).
 *
 * Every wait is bounded (each scenario has a time limit, cleanup steps too) and everything started here is
 * stopped at the end, Ctrl-C included.
 */
import os from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadBenchProcess } from '../src/config.js';
import { DUPLICATE_SIGNAL_MS, onStopSignals, Shutdown } from '../src/process/shutdown.js';
import { installTemporalRuntime } from '../src/process/temporal-runtime.js';
import { setLogLevel } from '../src/logging/logger.js';
import {
  formatTable,
  parseOptions,
  round,
  UsageError,
  USAGE,
  type BenchOptions,
  type ScenarioFigures,
  type ScenarioName,
  type ScenarioSpec,
} from './figures.js';
import { runApiLoad } from './api-load.js';
import { runExport } from './export.js';
import { formatExport, type ExportExtras } from './export-report.js';
import { formatApiLoad, type ApiLoadExtras } from './api-load-report.js';
import { formatPacingMatrix, type SourceFigures } from './pacing-matrix-report.js';
import { runPacingMatrix } from './pacing-matrix.js';
import { runRealistic } from './realistic.js';
import { formatRealistic, type RealisticExtras } from './realistic-report.js';
import { runScenario, specs } from './scenarios.js';
import { runScale } from './scale.js';
import { runWatchFanout } from './watch-fanout.js';
import { formatWatchFanout, type WatchFanoutExtras } from './watch-fanout-report.js';
import { cacheUserIds, say, setUp, type World } from './world.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** Each cleanup step gets this long before the next one runs anyway. */
const CLEANUP_STEP_MS = 30_000;

const shutdown = new Shutdown(
  { warn: (msg, fields) => say(`cleanup: ${msg}${fields?.err ? `: ${(fields.err as Error).message}` : ''}`) },
  CLEANUP_STEP_MS,
);
/** Ctrl-C / SIGTERM: no further scenario starts and no results are written. */
const interruption = new AbortController();

function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpu_model: cpus[0]?.model.trim() ?? 'unknown',
    memory_gb: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
  };
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2), loadBenchProcess().variables);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      say(`${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  setLogLevel('silent');
  installTemporalRuntime({ level: loadBenchProcess().bench.BENCH_TEMPORAL_LOG_LEVEL, to: 'console', signals: false });
  if (options.latencyMs >= 1000 / options.rate) {
    say(`note: latency ${options.latencyMs} ms ≥ 1/rate: one proxy cannot reach ${options.rate}/s one request at a time`);
  }

  const world = await setUp(options, shutdown, interruption.signal);
  if (!options.scenarios.includes('first_check')) await cacheUserIds(world);

  const started = performance.now();
  const { scenarios, failures } = await runScenarios(world, options);
  // an interrupted run keeps the previous figures: nothing half-measured overwrites them
  if (interruption.signal.aborted) return 130;
  const output: Output = {
    machine: machine(),
    settings: settings(options, world, started),
    scenarios,
    ...(failures.length ? { failures } : {}),
  };
  await writeResults(options.out, output);
  printSummary(options, output, failures);
  return failures.length ? 1 : 0;
}

/** Every scenario asked for, in order, until one is interrupted; a scenario that fails is said and the next one runs. */
async function runScenarios(world: World, options: BenchOptions): Promise<{ scenarios: ScenarioFigures[]; failures: string[] }> {
  const all = specs(options);
  const scenarios: ScenarioFigures[] = [];
  const failures: string[] = [];
  for (const name of options.scenarios) {
    if (interruption.signal.aborted) break;
    try {
      scenarios.push(await runNamed(world, name, all[name]));
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      failures.push(`${name}: ${message}`);
      say(`  ${name} FAILED: ${message}`);
    }
  }
  return { scenarios, failures };
}

/** The scenarios with a module of their own, and every other one through bench/scenarios.ts. */
function runNamed(world: World, name: ScenarioName, spec: ScenarioSpec): Promise<ScenarioFigures> {
  switch (name) {
    case 'scale_100k':
      return runScale(world, spec);
    case 'api_load':
      return runApiLoad(world, spec, shutdown);
    case 'pacing_matrix':
      return runPacingMatrix(world, spec);
    case 'realistic':
      return runRealistic(world, spec);
    case 'export_100k':
      return runExport(world, spec);
    case 'watch_fanout':
      return runWatchFanout(world, spec, shutdown);
    default:
      return runScenario(world, spec);
  }
}

function settings(options: BenchOptions, world: World, started: number) {
  return {
    profiles: options.profiles,
    proxies: options.proxies,
    per_proxy_rate: options.rate,
    burst: options.burst,
    latency_ms: options.latencyMs,
    batch_concurrency: options.concurrency,
    eager_activities: options.eager,
    batch_profiles_per_run: world.config.BATCH_PROFILES_PER_RUN,
    quick: options.quick,
    total_seconds: round((performance.now() - started) / 1000, 1),
  };
}

/** bench/results/latest.json's shape (docs/operations.md, "Benchmark output"). */
interface Output {
  machine: ReturnType<typeof machine>;
  settings: ReturnType<typeof settings>;
  scenarios: ScenarioFigures[];
  failures?: string[];
}

async function writeResults(file: string, output: Output): Promise<void> {
  const out = resolve(ROOT, file);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(output, null, 2)}\n`);
}

/** The table on stdout, the blocks of the scenarios whose figures do not fit it, the settings and the failures. */
function printSummary(options: BenchOptions, output: Output, failures: readonly string[]): void {
  const { scenarios } = output;
  console.log(formatTable(scenarios));
  // the API's figures under load do not fit the table's columns: a block of their own
  for (const s of scenarios) if (s.name === 'api_load') console.log(`\n${formatApiLoad(s as ScenarioFigures & ApiLoadExtras)}`);
  for (const s of scenarios) if (s.name === 'pacing_matrix') console.log(`\n${formatPacingMatrix(s.sources as SourceFigures[])}`);
  for (const s of scenarios) if (s.name === 'realistic') console.log(`\n${formatRealistic(s as ScenarioFigures & RealisticExtras)}`);
  for (const s of scenarios) if (s.name === 'export_100k') console.log(`\n${formatExport(s as ScenarioFigures & ExportExtras)}`);
  for (const s of scenarios) if (s.name === 'watch_fanout') console.log(`\n${formatWatchFanout(s as ScenarioFigures & WatchFanoutExtras)}`);
  console.log(
    `\n${options.proxies} proxies × ${options.rate} requests/s (burst ${options.burst}), latency ${options.latencyMs} ms, ` +
      `BATCH_CONCURRENCY ${options.concurrency}, eager activities ${options.eager ? 'on' : 'off'}; ${output.machine.cpus} × ${output.machine.cpu_model}, Node ${process.version}`,
  );
  console.log(`figures written to ${options.out}`);
  for (const f of failures) console.log(`FAILED ${f}`);
}

// stdout closed early (`| head`): keep going so that cleanup still runs
process.stdout.on('error', () => {});
onStopSignals(['SIGINT', 'SIGTERM'], {
  stopping: () => interruption.signal.aborted,
  stoppingSince: () => shutdown.startedAt,
  duplicateMs: DUPLICATE_SIGNAL_MS,
  first(signal) {
    interruption.abort();
    say(`\n${signal}: stopping everything`);
    void shutdown.run().finally(() => process.exit(130));
  },
  again: () => process.exit(130),
});

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  say(`bench failed: ${(err as Error)?.stack ?? String(err)}`);
} finally {
  await shutdown.run();
}
process.exit(exitCode);
