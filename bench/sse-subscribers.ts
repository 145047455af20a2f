/**
 * Subscribers of a batch's live events (GET /batches/:id/events, Server-Sent Events) held open through the
 * `api_load` mix phase, as dashboards following a running batch would: how many connected, how many were
 * still connected when the phase ended (a stream the server closed early, or that failed, did not stay), how
 * long the first event took, and how many events they received, by type. Plain node:http on an agent of their
 * own, so they do not take the load generator's connections.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { percentile, type SseFigures } from './api-load-report.js';

/** A subscriber with no answer (status line) this long counts as failed to connect. */
const CONNECT_TIMEOUT_MS = 10_000;
const KEPT_FAILURES = 5;

interface Subscriber {
  status: number | null;
  open: boolean;
  firstEventMs: number | null;
  request: http.ClientRequest;
}

export interface SseSubscribers {
  /** Closes every stream and returns the figures. */
  stop(): SseFigures;
}

export function subscribe(baseUrl: string, path: string, apiKey: string, count: number): SseSubscribers {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const url = new URL(path, baseUrl);
  const byType: Record<string, number> = {};
  const failures: string[] = [];
  let events = 0;
  let endedEarly = 0;
  let stopping = false;
  const fail = (what: string) => {
    if (failures.length < KEPT_FAILURES) failures.push(what);
  };

  const subscribers: Subscriber[] = Array.from({ length: count }, () => {
    const started = performance.now();
    const s: Subscriber = { status: null, open: false, firstEventMs: null, request: null as unknown as http.ClientRequest };
    const ended = (why: string) => {
      if (stopping || !s.open) return;
      s.open = false;
      endedEarly++;
      fail(why);
    };
    s.request = http.get(url, { agent, headers: { authorization: `Bearer ${apiKey}`, accept: 'text/event-stream' } }, (res) => {
      s.status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      if (s.status !== 200) {
        let body = '';
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => fail(`${s.status} ${body.slice(0, 300)}`));
        res.on('error', () => {});
        return;
      }
      s.open = true;
      let partial = '';
      res.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.startsWith('event:')) continue;
          const type = line.slice('event:'.length).trim();
          events++;
          byType[type] = (byType[type] ?? 0) + 1;
          s.firstEventMs ??= performance.now() - started;
        }
      });
      res.on('end', () => ended('the server ended the stream'));
      res.on('error', (err) => ended(`the stream failed: ${err.message}`));
    });
    s.request.setTimeout(CONNECT_TIMEOUT_MS, () => {
      if (s.status === null) s.request.destroy(new Error(`no answer within ${CONNECT_TIMEOUT_MS} ms`));
    });
    s.request.on('error', (err) => {
      if (s.status === null && !stopping) fail(`could not connect: ${err.message}`);
      else ended(`the stream failed: ${err.message}`);
    });
    return s;
  });

  return {
    stop() {
      stopping = true;
      const stayed = subscribers.filter((s) => s.open).length;
      const unanswered = subscribers.filter((s) => s.status === null).length;
      if (unanswered) failures.unshift(`${unanswered} of ${count} had no answer when the phase ended`);
      for (const s of subscribers) s.request.destroy();
      agent.destroy();
      const firsts = subscribers.flatMap((s) => (s.firstEventMs === null ? [] : [s.firstEventMs])).sort((a, b) => a - b);
      return {
        subscribers: count,
        connected: subscribers.filter((s) => s.status === 200).length,
        stayed_connected: stayed,
        ended_early: endedEarly,
        events,
        events_by_type: byType,
        first_event_p50_ms: percentile(firsts, 0.5),
        first_event_p99_ms: percentile(firsts, 0.99),
        failures,
      };
    },
  };
}
