/**
 * GET /readyz every READYZ_INTERVAL_MS through the `api_load` phases, on a client of its own (not shared with
 * the load), as an orchestrator's readiness probe would: a poll goes out every interval whether or not the
 * previous one was answered, and one answered with anything but 200, or not within READYZ_TIMEOUT_MS, counts
 * as failed (an API doing that under load would be taken out of service). Counted per phase (the watcher is
 * told which one runs), with the first failures' answers kept.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { READYZ_INTERVAL_MS, READYZ_TIMEOUT_MS } from './api-load-plan.js';
import { percentile, type ReadyzFigures } from './api-load-report.js';

const KEPT_FAILURES = 5;

export interface ReadyzWatch {
  /** The phase the following polls count towards. */
  phase(name: string): void;
  /** No more polls; waits for those in flight (each bounded by READYZ_TIMEOUT_MS). */
  stop(): Promise<ReadyzFigures>;
}

function poll(agent: http.Agent, url: URL): Promise<{ status: number | string; body: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body = (body + chunk).slice(0, 2_000)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (err) => resolve({ status: err.message, body }));
    });
    // the whole poll, connection included, within the bound
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${READYZ_TIMEOUT_MS} ms`)), READYZ_TIMEOUT_MS);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (err) => resolve({ status: err.message, body: '' }));
  });
}

export function watchReadyz(baseUrl: string): ReadyzWatch {
  // enough sockets for the polls a hung API leaves in flight (READYZ_TIMEOUT_MS / READYZ_INTERVAL_MS)
  const agent = new http.Agent({ keepAlive: true, maxSockets: Math.ceil(READYZ_TIMEOUT_MS / READYZ_INTERVAL_MS) + 2 });
  const url = new URL('/readyz', baseUrl);
  let current = 'before';
  const latencies: number[] = [];
  const notOk: Record<string, number> = {};
  const failures: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let polls = 0;

  const fire = () => {
    const started = performance.now();
    const phase = current;
    polls++;
    const done = poll(agent, url).then(({ status, body }) => {
      const ms = performance.now() - started;
      latencies.push(ms);
      if (status === 200) return;
      notOk[phase] = (notOk[phase] ?? 0) + 1;
      if (failures.length < KEPT_FAILURES) failures.push(`${phase}: ${status} after ${Math.round(ms)} ms ${body.slice(0, 300)}`.trim());
    });
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  };
  fire();
  const timer = setInterval(fire, READYZ_INTERVAL_MS);

  return {
    phase(name) {
      current = name;
    },
    async stop() {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      agent.destroy();
      const sorted = [...latencies].sort((a, b) => a - b);
      return {
        interval_ms: READYZ_INTERVAL_MS,
        polls,
        not_200: Object.values(notOk).reduce((a, b) => a + b, 0),
        not_200_by_phase: notOk,
        p99_ms: percentile(sorted, 0.99),
        max_ms: sorted.length ? Math.round(sorted[sorted.length - 1]!) : null,
        failures,
      };
    },
  };
}
