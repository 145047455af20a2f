/**
 * What every start-up step of `npm run dev` shares: the log, the shutdown that stops everything started so
 * far in reverse order, and `stopAll`, which a step calls when something it started dies on its own.
 *
 * Ctrl-C (SIGINT, SIGTERM or SIGHUP) runs the shutdown; a second one (2 s or more after the first) exits at
 * once, and the exit hooks still take the Temporal server and an embedded Postgres down.
 */
import { createLogger, type Logger } from '../logging/logger.js';
import { DUPLICATE_SIGNAL_MS, onStopSignals, Shutdown } from '../process/shutdown.js';

export interface DevRun {
  log: Logger;
  shutdown: Shutdown;
  /** Stops everything and exits with the highest code asked for (0 after a Ctrl-C, 1 after a failure). */
  stopAll(reason: string, code: number): void;
}

export function createDevRun(): DevRun {
  const log = createLogger({ component: 'dev' });
  const shutdown = new Shutdown(log);
  let exitCode = 0;
  const stopAll = (reason: string, code: number) => {
    if (shutdown.started) return;
    exitCode = Math.max(exitCode, code);
    log.info('stopping', { reason });
    void shutdown.run().then(() => {
      log.info('stopped');
      process.exit(exitCode);
    });
  };
  onStopSignals(['SIGINT', 'SIGTERM', 'SIGHUP'], {
    stopping: () => shutdown.started,
    stoppingSince: () => shutdown.startedAt,
    duplicateMs: DUPLICATE_SIGNAL_MS,
    first: (signal) => stopAll(signal, 0),
    // no more waiting (the exit hook still takes the Temporal server down)
    again(signal) {
      log.warn('stopping now', { signal });
      process.exit(130);
    },
  });
  return { log, shutdown, stopAll };
}

/** A child this run started that exits before the shutdown asked it to takes everything down with it. */
export function stopAllWhenExited(run: DevRun, what: string, exited: Promise<unknown>, details: () => Record<string, unknown>): void {
  void exited.then((how) => {
    if (run.shutdown.started) return;
    run.log.error(`the ${what} exited`, { ...(typeof how === 'object' ? how : {}), ...details() });
    run.stopAll(`${what} exited`, 1);
  });
}

/** A port taken under us becomes a sentence that says which variable moves it. */
export function friendlyListenError(err: unknown, what: string, variable: string, port: number): Error {
  if ((err as { code?: string }).code === 'EADDRINUSE') return portInUse(port, what, variable);
  return err as Error;
}

export function portInUse(port: number, what: string, variable: string): Error {
  return new Error(`port ${port} (${what}) is already in use: stop what holds it or set ${variable} to another port`);
}
