/**
 * The Temporal SDK runtime of an in-process worker: its log lines (and the Rust core's) go through the
 * project's JSON logger, hence through `redact`, at warnings and above unless LOG_LEVEL is debug; and it
 * installs no signal handlers, because the launcher decides the shutdown order itself.
 */
import type { LogLevel as SdkLogLevel, LogMetadata } from '@temporalio/common';
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { createLogger, type LogLevel } from '../logger.js';

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

export function installTemporalRuntime(logLevel: LogLevel | 'silent'): void {
  const level: SdkLogLevel = logLevel === 'debug' ? 'INFO' : logLevel === 'silent' || logLevel === 'error' ? 'ERROR' : 'WARN';
  const log = createLogger({ component: 'temporal-sdk' });
  Runtime.install({
    logger: new DefaultLogger(level, ({ level: l, message, meta }) => {
      const { taskToken: _token, ...fields } = plain(meta);
      // a retried activity is routine (rate limits, transient upstream errors) and already shows in the batch
      // logs as RATE_LIMITED / CHECK_RETRY: keep it out of the terminal unless LOG_LEVEL is debug
      const retried = message === 'Activity failed' && (fields.error as { nonRetryable?: unknown } | undefined)?.nonRetryable === false;
      log[retried ? 'debug' : toOurs[l]](message, fields);
    }),
    shutdownSignals: [],
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: level }), forward: {} } },
  });
}
