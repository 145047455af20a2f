/**
 * What every process of the service exposes besides its own series: Node's process metrics (CPU, memory,
 * event loop, GC) and `storycheck_build_info`. One registry per process, made on first use, shared by the
 * API's `/metrics` and a worker's metrics server when both run in one process (`npm run dev`).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

const require = createRequire(import.meta.url);

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

function temporalSdkVersion(): string {
  try {
    return (require('@temporalio/common/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

let registry: Registry | undefined;

export function processRegistry(): Registry {
  if (registry) return registry;
  registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'storycheck_build_info',
    help: 'Always 1; the labels say which storycheck, Node.js and Temporal SDK versions this process runs.',
    labelNames: ['version', 'node', 'temporal_sdk'],
    registers: [registry],
  }).set({ version: packageVersion(), node: process.version, temporal_sdk: temporalSdkVersion() }, 1);
  return registry;
}

/** The exposition text of several registries (and raw texts) as one scrape. */
export async function exposition(parts: Array<Registry | string>): Promise<string> {
  const texts = await Promise.all(parts.map((p) => (typeof p === 'string' ? p : p.metrics())));
  return texts.map((t) => (t.endsWith('\n') ? t : `${t}\n`)).join('\n');
}

/** Prometheus' text format, as every registry here uses. */
export const CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
