/**
 * One load phase of the `api_load` scenario: one autocannon instance per kind of request (creates, reads,
 * transitions), all started together for the same duration, each on its own connections, and their figures.
 *
 * Per kind and for the phase: answered correctly per second (2xx, and the statuses the kind expects, 409 for
 * a transition that met a batch in another state), latency p50 / p99 / max over every answer (from
 * autocannon's response events, so that the kinds of a phase merge into one distribution), errors (any other
 * status, plus autocannon's connection errors), timeouts (no answer within REQUEST_TIMEOUT_S; autocannon
 * counts them among its errors, here they are apart) and stalled requests: those that had been waiting
 * STALLED_MS or more when the phase ended (autocannon stops at its duration, so a request sent in the phase's
 * last REQUEST_TIMEOUT_S never times out: against a hung API a phase would otherwise show nothing wrong). The
 * first bodies of unexpected answers are kept.
 */
import autocannon from 'autocannon';
import { withTimeout } from '../src/process/timeouts.js';
import { REQUEST_TIMEOUT_S } from './api-load-plan.js';
import { percentile, type LoadFigures } from './api-load-report.js';

const KEPT_BODIES = 5;
/** A request still waiting this long when its phase ends counts as stalled (with the timeouts). */
export const STALLED_MS = 2_000;

export interface LoadKind {
  name: string;
  connections: number;
  /** autocannon's request sequence of each connection (a setupRequest makes each request different). */
  requests: autocannon.Request[];
  /** Statuses besides 2xx that answer correctly (409 for transitions). */
  expected?: readonly number[];
}

interface KindRun {
  kind: LoadKind;
  latencies: number[];
  bodies: string[];
  stalled: number;
  result: autocannon.Result;
}

function fire(url: string, apiKey: string, durationS: number, kind: LoadKind): { instance: autocannon.Instance; done: Promise<KindRun> } {
  const latencies: number[] = [];
  const bodies: string[] = [];
  const expected = new Set(kind.expected ?? []);
  // the first bodies of unexpected answers: what the API said when it failed
  const requests = kind.requests.map((r) => ({
    ...r,
    onResponse(status: number, body: string) {
      if ((status < 200 || status >= 300) && !expected.has(status) && bodies.length < KEPT_BODIES) bodies.push(`${status} ${body.slice(0, 300)}`);
    },
  }));
  // when each connection's request in flight was sent (pipelining 1: one at a time), to count the stalled ones
  const waitingSince = new Map<autocannon.Client, number>();
  const setupClient = (client: autocannon.Client) => {
    // events autocannon's types leave out ('request', 'timeout', 'connError'): the plain emitter's
    const events = client as NodeJS.EventEmitter;
    events.on('request', () => waitingSince.set(client, Date.now()));
    for (const over of ['response', 'timeout', 'connError']) events.on(over, () => waitingSince.delete(client));
  };
  let instance!: autocannon.Instance;
  const done = new Promise<KindRun>((resolve, reject) => {
    instance = autocannon(
      {
        url,
        connections: kind.connections,
        duration: durationS,
        timeout: REQUEST_TIMEOUT_S,
        headers: { authorization: `Bearer ${apiKey}` },
        requests,
        setupClient,
      },
      (err: unknown, result: autocannon.Result) => {
        if (err) return reject(err as Error);
        const now = Date.now();
        const stalled = [...waitingSince.values()].filter((since) => now - since >= STALLED_MS).length;
        resolve({ kind, latencies, bodies, stalled, result });
      },
    );
  });
  instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
  return { instance, done };
}

function figures(runs: readonly KindRun[]): LoadFigures {
  let ok = 0;
  let answered = 0;
  let unexpected = 0;
  let connectionErrors = 0;
  let timeouts = 0;
  let stalled = 0;
  const statuses: Record<string, number> = {};
  let okPerS = 0;
  let answeredPerS = 0;
  for (const { kind, result, stalled: kindStalled } of runs) {
    stalled += kindStalled;
    const expected = new Set(kind.expected ?? []);
    let kindOk = 0;
    let kindAnswered = 0;
    for (const [code, { count = 0 }] of Object.entries(result.statusCodeStats ?? {})) {
      const status = Number(code);
      statuses[code] = (statuses[code] ?? 0) + count;
      kindAnswered += count;
      if ((status >= 200 && status < 300) || expected.has(status)) kindOk += count;
      else unexpected += count;
    }
    ok += kindOk;
    answered += kindAnswered;
    okPerS += result.duration > 0 ? kindOk / result.duration : 0;
    answeredPerS += result.duration > 0 ? kindAnswered / result.duration : 0;
    timeouts += result.timeouts;
    connectionErrors += result.errors - result.timeouts;
  }
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  return {
    connections: runs.reduce((sum, r) => sum + r.kind.connections, 0),
    seconds: Math.max(...runs.map((r) => r.result.duration)),
    answered,
    ok,
    ok_per_s: Math.round(okPerS),
    answered_per_s: Math.round(answeredPerS),
    p50_ms: percentile(latencies, 0.5),
    p99_ms: percentile(latencies, 0.99),
    max_ms: latencies.length ? Math.round(latencies[latencies.length - 1]!) : null,
    errors: unexpected + connectionErrors,
    connection_errors: connectionErrors,
    timeouts,
    stalled,
    statuses,
    error_bodies: runs.flatMap((r) => r.bodies).slice(0, KEPT_BODIES),
  };
}

/** Runs every kind at once for `durationS` seconds; the phase's figures, and each kind's when there are several. */
export async function runPhase(
  url: string,
  apiKey: string,
  durationS: number,
  kinds: readonly LoadKind[],
): Promise<LoadFigures & { by_kind?: Record<string, LoadFigures> }> {
  const fired = kinds.map((kind) => fire(url, apiKey, durationS, kind));
  // autocannon stops at its duration whatever the server does; this bounds the rest
  const runs = await withTimeout(
    Promise.all(fired.map((f) => f.done)),
    (durationS + REQUEST_TIMEOUT_S + 30) * 1000,
    `the load of ${kinds.map((k) => k.name).join(', ')} did not end`,
  ).catch((err: unknown) => {
    for (const f of fired) f.instance.stop();
    throw err;
  });
  const phase = figures(runs);
  if (runs.length === 1) return phase;
  return { ...phase, by_kind: Object.fromEntries(runs.map((r) => [r.kind.name, figures([r])])) };
}
