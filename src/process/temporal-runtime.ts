/**
 * The Temporal SDK runtime of a process that runs workers or test servers, installed once per process
 * before any of them.
 *
 * - `to: 'logger'` (the dev launcher): the SDK's log lines (and the Rust core's) go through the project's
 *   JSON logger, hence through `redact`; a routine activity retry is demoted to debug.
 * - `to: 'console'` (tests, the benchmark): the SDK's own format on the console, at the given level.
 *
 * With `signals: false` it installs no signal handlers, because the process decides the shutdown order itself.
 */
import type { LogLevel as SdkLogLevel, LogMetadata } from '@temporalio/common';
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { createLogger, type LogLevel } from '../logger.js';

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

/** Metadata as plain JSON (the SDK may attach bigints or class instances). */
function plain(meta: LogMetadata | undefined): Record<string, unknown> {
  if (!meta) return {};
  try {
    return JSON.parse(JSON.stringify(meta, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))) as Record<string, unknown>;
  } catch {
    return {};
  }
}

const toOurs: Record<SdkLogLevel, LogLevel> = { TRACE: 'debug', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

function jsonLogger(level: SdkLogLevel): DefaultLogger {
  const log = createLogger({ component: 'temporal-sdk' });
  return new DefaultLogger(level, ({ level: l, message, meta }) => {
    const { taskToken: _token, ...fields } = plain(meta);
    // a retried activity is routine (rate limits, transient upstream errors) and already shows in the batch
    // logs as RATE_LIMITED / CHECK_RETRY: keep it out of the terminal unless LOG_LEVEL is debug
    const retried = message === 'Activity failed' && (fields.error as { nonRetryable?: unknown } | undefined)?.nonRetryable === false;
    log[retried ? 'debug' : toOurs[l]](message, fields);
  });
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
    logger: options.to === 'logger' ? jsonLogger(level) : new DefaultLogger(level),
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
