/**
 * The start every entry point shares (`npm run api`, `worker`, `migrate`, `dev`): read the configuration (an
 * invalid one is printed and the process exits 1), set the log level (LOG_LEVEL, read here and nowhere else),
 * install the Temporal runtime when the entry runs a worker, and run the entry. A failure is printed (exit 1).
 *
 * An entry that returns a stop function is stopped by the first SIGINT/SIGTERM, then exits 0 (1 if stopping
 * failed); a second signal exits 1 at once. An entry that returns nothing keeps the process while it has
 * work and handles signals itself, if at all (the Temporal worker does).
 */
import { ConfigError, loadConfig, type Config } from '../config.js';
import { onStopSignals } from './shutdown.js';
import { setLogLevel, usePrettyLogs } from '../logging/logger.js';

export type Stop = (signal: NodeJS.Signals) => Promise<void>;

export interface RunMainOptions<S extends { config: Config }> {
  /** Reads the settings (default: the configuration of src/config.ts); throws ConfigError when invalid. */
  load?: () => S;
  /**
   * Route the Temporal SDK's logs through ours (a worker in this process). `true`: the entry orders the
   * shutdown itself and the SDK installs no signal handlers; `{ signals: true }`: the SDK shuts its workers
   * down on SIGINT/SIGTERM (an entry that awaits `Worker.run`).
   */
  temporalRuntime?: boolean | { signals: boolean };
  /**
   * Where the Temporal SDK's Prometheus exporter binds (`host:port`), or undefined for none. With an address,
   * the runtime is installed here even without `temporalRuntime` (the SDK then keeps its own signal handling).
   */
  temporalMetrics?: (config: Config) => Promise<string | undefined> | string | undefined;
  /** Human-readable log lines when stdout is a terminal (JSON otherwise). */
  prettyLogsInTerminal?: boolean;
  /** What to print when the entry fails (default: the error). */
  failure?: (err: unknown) => unknown;
}

export function runMain<S extends { config: Config } = { config: Config }>(
  main: (settings: S) => Promise<Stop | void>,
  options: RunMainOptions<S> = {},
): void {
  let settings: S;
  try {
    settings = options.load ? options.load() : ({ config: loadConfig() } as S);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(1);
  }
  const { LOG_LEVEL } = settings.config;
  setLogLevel(LOG_LEVEL);
  if (options.prettyLogsInTerminal) usePrettyLogs();
  const started = (async () => {
    const { temporalRuntime } = options;
    const metricsBindAddress = await options.temporalMetrics?.(settings.config);
    if (temporalRuntime || metricsBindAddress) {
      // imported only here: the SDK's native worker module is heavy, and only a worker process needs it
      const { installTemporalRuntime, sdkLogLevel } = await import('./temporal-runtime.js');
      const signals = typeof temporalRuntime === 'object' ? temporalRuntime.signals : !temporalRuntime;
      installTemporalRuntime({
        level: sdkLogLevel(LOG_LEVEL),
        to: 'logger',
        signals,
        ...(metricsBindAddress ? { metricsBindAddress } : {}),
      });
    }
    return main(settings);
  })();
  started.then(
    (stop) => {
      if (!stop) return;
      let stopping = false;
      onStopSignals(['SIGINT', 'SIGTERM'], {
        stopping: () => stopping,
        first(signal) {
          stopping = true;
          stop(signal).then(
            () => process.exit(0),
            () => process.exit(1),
          );
        },
        // a second Ctrl-C means "now"
        again: () => process.exit(1),
      });
    },
    (err: unknown) => {
      console.error(options.failure ? options.failure(err) : err);
      process.exit(1);
    },
  );
}
