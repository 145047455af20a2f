/**
 * The Temporal SDK's own worker metrics (task slots, poll and execution latencies, sticky cache): the SDK
 * runtime serves them through a Prometheus exporter of its own (src/process/temporal-runtime.ts), bound to a
 * loopback port nobody scrapes directly. A worker's metrics server reads that text at each scrape and appends
 * it to its own, so one scrape returns both.
 */
import { freePort } from '../local/ports.js';

/** How long a scrape waits for the SDK's exporter before it answers without the SDK's series. */
const READ_TIMEOUT_MS = 2_000;

/** `127.0.0.1:<port>` with a port free right now, for the SDK's exporter to bind. */
export async function freeLoopbackAddress(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
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
