/**
 * Last-resort cleanups for tests that start servers and processes of their own: run when the test process
 * exits, and when SIGTERM/SIGINT/SIGHUP tell it to stop (their default kills it without running `exit`
 * listeners, which would leave the servers running). After the cleanups the signal keeps its usual effect:
 * when nothing else handles it, it is raised again without this handler. A normal teardown (afterAll) comes
 * first; these only catch what it could not.
 */
const cleanups = new Set<() => void>();
let installed = false;

/** Latest first, as a teardown would: what was started last (workers) goes before what it needs (servers). */
function runCleanups(): void {
  for (const cleanup of [...cleanups].reverse()) {
    try {
      cleanup();
    } catch {
      // best effort: the others must still run
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.once('exit', runCleanups);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = () => {
      runCleanups();
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

/** Registers a synchronous cleanup (kill a server, remove its files); returns a function that unregisters it. */
export function cleanUpOnExit(cleanup: () => void): () => void {
  install();
  cleanups.add(cleanup);
  return () => void cleanups.delete(cleanup);
}
