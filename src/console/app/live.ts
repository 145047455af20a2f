/**
 * Data that stays current by itself: polled lists, and a batch followed over its Server-Sent Events stream
 * (`GET /batches/:id/events`). The browser's EventSource reconnects on its own and sends Last-Event-ID, so a
 * dropped connection resumes exactly after the last log it got; a stream the server refused (signed out,
 * unavailable) is opened again after a pause.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type ApiBatch, type ApiLog } from './api.js';

export interface Loaded<T> {
  data: T | undefined;
  /** When `data` arrived (0: not yet). */
  at: number;
  error: unknown;
  reload: () => void;
}

/**
 * Loads `load()` now, whenever `deps` change, on `reload()`, and every `intervalMs` (if given) while the page
 * is visible, until it is answered 404. A failed reload keeps the last data on screen beside the error.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], intervalMs?: number): Loaded<T> {
  const [loaded, setLoaded] = useState<{ data: T | undefined; at: number }>({ data: undefined, at: 0 });
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const generation = useRef(0);

  useEffect(() => {
    const mine = ++generation.current;
    load().then(
      (value) => {
        if (mine !== generation.current) return;
        setLoaded({ data: value, at: Date.now() });
        setError(null);
      },
      (err: unknown) => {
        if (mine === generation.current) setError(err);
      },
    );
  }, [...deps, tick]);

  // what is gone (404) stays gone: stop asking
  const gone = error instanceof ApiError && error.status === 404;
  useEffect(() => {
    if (!intervalMs || gone) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') reload();
    }, intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs, reload, gone]);

  return { ...loaded, error, reload };
}

/** Checks per second over the last few progress events. */
class RateMeter {
  private samples: Array<{ at: number; done: number }> = [];
  add(done: number, at = Date.now()): void {
    this.samples.push({ at, done });
    while (this.samples.length > 2 && at - this.samples[0]!.at > 15_000) this.samples.shift();
  }
  perSecond(): number | null {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at - first.at < 1_000) return null;
    return ((last.done - first.done) * 1000) / (last.at - first.at);
  }
}

export interface BatchStream {
  /** The batch as last sent (null until the first progress event). */
  batch: ApiBatch | null;
  /** Checks per second, measured from the live progress (null until there are two readings). */
  rate: number | null;
  /** When `batch` arrived (0: not yet). */
  at: number;
  /** Why the stream is not connected, when it failed. */
  error: unknown;
}

const NOTHING_YET: BatchStream = { batch: null, rate: null, at: 0, error: null };

/**
 * The fresher of a batch's two readings, the stream's and a poll's: whichever arrived last (the poll sees a
 * transition first when the stream has ended, the stream sees progress first while it runs).
 */
export function latestBatch(stream: BatchStream, polled: { data: ApiBatch | null | undefined; at: number }): ApiBatch | null {
  if (stream.batch && (!polled.data || stream.at >= polled.at)) return stream.batch;
  return polled.data ?? null;
}

const REOPEN_MS = 5_000;

/**
 * Follows one batch live. `onLog` receives each new log event, in commit order. The stream ends when the batch
 * stops moving (paused, done, ...); a new `epoch` opens it again, e.g. after the batch was resumed.
 */
export function useBatchStream(batchId: string | null, onLog?: (log: ApiLog) => void, epoch = 0): BatchStream {
  const [state, setState] = useState<BatchStream>(NOTHING_YET);
  const logHandler = useRef(onLog);
  logHandler.current = onLog;

  useEffect(() => {
    if (!batchId) {
      setState(NOTHING_YET);
      return;
    }
    const meter = new RateMeter();
    let source: EventSource | null = null;
    let reopen: ReturnType<typeof setTimeout> | undefined;
    let closed = false;

    const open = () => {
      source = new EventSource(`/batches/${encodeURIComponent(batchId)}/events`);
      source.onopen = () => setState((s) => ({ ...s, error: null }));
      const progress = (e: MessageEvent<string>) => {
        const batch = JSON.parse(e.data) as ApiBatch;
        meter.add(batch.completed_profiles);
        setState({ batch, rate: batch.status === 'running' ? meter.perSecond() : null, at: Date.now(), error: null });
      };
      source.addEventListener('progress', progress);
      source.addEventListener('end', (e) => {
        progress(e);
        // the batch stopped moving: the server ends the stream, and the browser must not open it again
        source?.close();
      });
      source.addEventListener('log', (e) => logHandler.current?.(JSON.parse(e.data) as ApiLog));
      source.onerror = () => {
        if (closed || !source) return;
        setState((s) => ({ ...s, error: new ApiError(0, 'stream', 'Live updates are interrupted; reconnecting…') }));
        // refused (401, 404, 503): the browser gives up on such a stream, so open it again later
        if (source.readyState === EventSource.CLOSED) reopen = setTimeout(open, REOPEN_MS);
      };
    };
    open();
    return () => {
      closed = true;
      clearTimeout(reopen);
      source?.close();
    };
  }, [batchId, epoch]);

  return state;
}
