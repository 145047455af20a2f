/**
 * The Temporal SDK runtime of a process that runs workers or test servers, installed once per process
 * before any of them.
 *
 * - `to: 'logger'` (`npm run worker`, `npm run dev`, the tests): the SDK's log lines (and the Rust core's) go
 *   through the project's logger, hence through `redact`, with the SDK's metadata as the same snake_case
 *   correlation fields our own lines carry (workflow_id, run_id, activity_id, attempt, ...).
 * - `to: 'console'` (the benchmark): the SDK's own format on the console, at the given level.
 *
 * With `signals: false` it installs no signal handlers, because the process decides the shutdown order itself;
 * with `signals: true` the SDK shuts its workers down on SIGINT/SIGTERM (what `Worker.run` relies on).
 */
import type { LogLevel as SdkLogLevel, LogMetadata } from '@temporalio/common';
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { createLogger, type LogLevel } from '../logging/logger.js';

export interface TemporalRuntimeOptions {
  level: SdkLogLevel;
  to: 'logger' | 'console';
  /** Whether the SDK shuts its workers down on SIGINT/SIGTERM itself (its default). */
  signals: boolean;
  /**
   * `host:port` for the SDK's Prometheus exporter of its worker metrics (unset: none). A worker's metrics
   * server reads it there (src/metrics/temporal-exporter.ts); see `temporalMetricsUrl`.
   */
  metricsBindAddress?: string;
}

/** The SDK level matching ours: warnings and above unless LOG_LEVEL is debug. */
export function sdkLogLevel(logLevel: LogLevel | 'silent'): SdkLogLevel {
  return logLevel === 'debug' ? 'INFO' : logLevel === 'silent' || logLevel === 'error' ? 'ERROR' : 'WARN';
}

/** The SDK's metadata names (activity and workflow loggers) as the correlation fields of our lines. */
const FIELD_NAMES: Record<string, string> = {
  workflowId: 'workflow_id',
  runId: 'run_id',
  workflowRunId: 'run_id',
  activityId: 'activity_id',
  attempt: 'attempt',
  workflowType: 'workflow_type',
  activityType: 'activity_type',
  taskQueue: 'task_queue',
  namespace: 'namespace',
  isLocal: 'is_local',
  sdkComponent: 'sdk_component',
};

/**
 * Metadata as fields: correlation names in snake_case, the task token dropped (a credential for completing
 * the activity), errors kept as errors (the logger serializes them with their stack and causes) and anything
 * else as plain JSON (the SDK may attach bigints or class instances).
 */
export function sdkFields(meta: LogMetadata | undefined): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta ?? {})) {
    if (key === 'taskToken') continue;
    const name = FIELD_NAMES[key] ?? key;
    if (value instanceof Error) fields[name] = value;
    else fields[name] = plain(value);
  }
  return fields;
}

function plain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'bigint' ? String(value) : value;
  try {
    return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))) as unknown;
  } catch {
    return String(value);
  }
}

const toOurs: Record<SdkLogLevel, LogLevel> = { TRACE: 'debug', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/**
 * No level is rewritten: the waits a chunk expects (a busy or resting pool, a rate limit) fail as BENIGN
 * application failures, which the SDK itself logs at debug; an 'Activity failed' warning is now a genuine
 * failure (the upstream erring, a malformed answer, a database fault) and is kept.
 */
function loggerRouted(level: SdkLogLevel): DefaultLogger {
  const log = createLogger({ component: 'temporal-sdk' });
  return new DefaultLogger(level, ({ level: l, message, meta }) => log[toOurs[l]](message, sdkFields(meta)));
}

let installed = false;
let metricsUrl: string | null = null;

/** Where the installed runtime's Prometheus exporter answers, or null when it has none. */
export function temporalMetricsUrl(): string | null {
  return metricsUrl;
}

/** Installs the runtime; a second call in the same process does nothing. */
export function installTemporalRuntime(options: TemporalRuntimeOptions): void {
  if (installed) return;
  installed = true;
  const { level } = options;
  Runtime.install({
    logger: options.to === 'logger' ? loggerRouted(level) : new DefaultLogger(level),
    ...(options.signals ? {} : { shutdownSignals: [] }),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: level }), forward: {} },
      ...(options.metricsBindAddress
        ? { metrics: { prometheus: { bindAddress: options.metricsBindAddress, useSecondsForDurations: true, countersTotalSuffix: true } } }
        : {}),
    },
  });
  if (options.metricsBindAddress) metricsUrl = `http://${options.metricsBindAddress}/metrics`;
}
