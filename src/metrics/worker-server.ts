/**
 * A worker's metrics server: `GET /metrics` answers the process's series (./process.ts), the worker's own
 * (./worker.ts) and, when the SDK runtime has its Prometheus exporter, the Temporal SDK's worker metrics
 * (./temporal-exporter.ts), as one Prometheus text. Nothing else is served. It needs no key: it listens on
 * WORKER_METRICS_HOST (loopback unless told otherwise) and holds no secret.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config.js';
import { CONTENT_TYPE, exposition, processRegistry } from './process.js';
import { readExporterText } from './temporal-exporter.js';
import { workerRegistry } from './worker.js';

export interface WorkerMetricsServerOptions {
  host: string;
  /** 0: any free port. */
  port: number;
  /** The SDK runtime's exporter (`http://127.0.0.1:<port>/metrics`), when it has one. */
  runtimeExporterUrl?: string;
}

export interface WorkerMetricsServer {
  /** `http://host:port/metrics`. */
  url: string;
  close(): Promise<void>;
}

/** The text one scrape of a worker answers. */
export async function workerMetricsText(runtimeExporterUrl?: string): Promise<string> {
  const sdk = runtimeExporterUrl ? [await readExporterText(runtimeExporterUrl)] : [];
  return exposition([processRegistry(), workerRegistry, ...sdk]);
}

export async function startWorkerMetricsServer(options: WorkerMetricsServerOptions): Promise<WorkerMetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    workerMetricsText(options.runtimeExporterUrl).then(
      (text) => res.writeHead(200, { 'content-type': CONTENT_TYPE }).end(req.method === 'HEAD' ? undefined : text),
      () => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics could not be collected\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The worker's metrics server as the configuration asks for it (WORKER_METRICS_PORT on WORKER_METRICS_HOST),
 * with the SDK runtime's exporter when it has one; null when the port is unset.
 */
export async function serveWorkerMetrics(
  config: Pick<Config, 'WORKER_METRICS_PORT' | 'WORKER_METRICS_HOST'>,
  runtimeExporterUrl: string | null,
): Promise<WorkerMetricsServer | null> {
  if (config.WORKER_METRICS_PORT === undefined) return null;
  return startWorkerMetricsServer({
    host: config.WORKER_METRICS_HOST,
    port: config.WORKER_METRICS_PORT,
    ...(runtimeExporterUrl ? { runtimeExporterUrl } : {}),
  });
}
