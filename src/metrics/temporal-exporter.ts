/**
 * The Temporal SDK's own worker metrics (task slots, poll and execution latencies, sticky cache): the SDK
 * runtime serves them through a Prometheus exporter of its own (src/process/temporal-runtime.ts), bound to a
 * loopback port nobody scrapes directly. A worker's metrics server reads that text at each scrape and appends
 * it to its own, so one scrape returns both.
 */
import type { Config } from '../config.js';
import { freePort } from '../local/ports.js';

/** How long a scrape waits for the SDK's exporter before it answers without the SDK's series. */
const READ_TIMEOUT_MS = 2_000;

/** `127.0.0.1:<port>` with a port free right now, for the SDK's exporter to bind. */
export async function freeLoopbackAddress(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
}

/**
 * Where the SDK's exporter binds in a worker process (runMain's `temporalMetrics`): a free loopback address when
 * the worker serves metrics (WORKER_METRICS_PORT set), none otherwise.
 */
export function exporterAddressFor(config: Pick<Config, 'WORKER_METRICS_PORT'>): Promise<string> | undefined {
  return config.WORKER_METRICS_PORT === undefined ? undefined : freeLoopbackAddress();
}

/**
 * The exporter's exposition text; when it cannot be read, a comment saying so (a scrape still returns the
 * process's own series).
 */
export async function readExporterText(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(READ_TIMEOUT_MS) });
    if (!res.ok) return `# the Temporal SDK's metrics could not be read: HTTP ${res.status}\n`;
    return await res.text();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return `# the Temporal SDK's metrics could not be read: ${reason.replace(/\s+/g, ' ')}\n`;
  }
}
