/**
 * A discrete-event run of proxies paced by src/pool/pacing.ts against source models, on simulated time: hours of
 * traffic in milliseconds. Each proxy keeps up to maxInFlight requests in flight, sends no earlier than its last
 * send plus its interval and never while resting; a request reaches the source half way through its latency and
 * its answer is observed when it completes.
 */
import {
  newPacingState,
  observe,
  sendIntervalMs,
  learnedRatePerS,
  type PacingSettings,
  type PacingState,
} from '../../src/pool/pacing.js';
import type { RateSource, SourceAnswer } from './rate-sources.js';

export interface DriveOptions {
  /** One source per proxy (each address is limited on its own). */
  sources: RateSource[];
  settings: PacingSettings;
  latencyMs: { min: number; max: number };
  durationMs: number;
  /** Stop once this many requests succeeded (a request answered 429 is sent again); unset: always more to send. */
  requests?: number;
  random: () => number;
}

export interface Answer {
  proxy: number;
  sentAtMs: number;
  doneAtMs: number;
  limited: boolean;
}

export interface DriveResult {
  answers: Answer[];
  /** When the run stopped: the last request succeeded, or the duration ran out. */
  endMs: number;
  /** Every note the pacing gave, with its time and proxy (for reading a run). */
  notes: { atMs: number; proxy: number; note: string }[];
  /** The learned rate of each proxy, sampled each simulated second. */
  rates: (number | null)[][];
  states: PacingState[];
}

type Event =
  | { atMs: number; kind: 'arrive'; proxy: number; sentAtMs: number; doneAtMs: number }
  | { atMs: number; kind: 'complete'; proxy: number; sentAtMs: number; answer: SourceAnswer };

interface ProxyRun {
  state: PacingState;
  inFlight: number;
  lastSendMs: number;
  restUntilMs: number;
}

export function drive(opts: DriveOptions): DriveResult {
  const proxies: ProxyRun[] = opts.sources.map(() => ({
    state: newPacingState(),
    inFlight: 0,
    lastSendMs: -Infinity,
    restUntilMs: 0,
  }));
  const events = new EventQueue();
  const result: DriveResult = { answers: [], endMs: 0, notes: [], rates: proxies.map(() => []), states: [] };
  let succeeded = 0;
  let inFlight = 0;
  let now = 0;
  let nextSample = 0;
  const moreToSend = () => opts.requests === undefined || succeeded + inFlight < opts.requests;
  const nextSendAt = (p: ProxyRun) =>
    p.inFlight >= opts.settings.maxInFlight || !moreToSend()
      ? Infinity
      : Math.max(now, p.restUntilMs, p.lastSendMs + sendIntervalMs(p.state, opts.settings));

  while (now <= opts.durationMs && (opts.requests === undefined || succeeded < opts.requests)) {
    const sendTimes = proxies.map(nextSendAt);
    const soonestSend = Math.min(...sendTimes);
    const soonestEvent = events.peekTime();
    now = Math.min(soonestSend, soonestEvent);
    if (!Number.isFinite(now)) break;
    while (now >= nextSample) {
      proxies.forEach((p, i) => result.rates[i]?.push(learnedRatePerS(p.state)));
      nextSample += 1000;
    }
    if (soonestEvent <= soonestSend) {
      const e = events.pop();
      if (!e) break;
      const p = proxies[e.proxy];
      if (!p) throw new Error('unknown proxy');
      if (e.kind === 'arrive') {
        const source = opts.sources[e.proxy];
        if (!source) throw new Error('unknown source');
        events.push({ atMs: e.doneAtMs, kind: 'complete', proxy: e.proxy, sentAtMs: e.sentAtMs, answer: source.answer(now) });
        continue;
      }
      p.inFlight -= 1;
      inFlight -= 1;
      const limited = e.answer.kind === 'rate_limited';
      if (!limited) succeeded += 1;
      result.answers.push({ proxy: e.proxy, sentAtMs: e.sentAtMs, doneAtMs: now, limited });
      const event =
        e.answer.kind === 'rate_limited'
          ? { kind: 'rate_limited' as const, sentAtMs: e.sentAtMs, ...(e.answer.retryAfterMs === undefined ? {} : { retryAfterMs: e.answer.retryAfterMs }) }
          : { kind: 'success' as const, sentAtMs: e.sentAtMs };
      const decision = observe(p.state, event, now, opts.settings);
      p.state = decision.state;
      if (decision.restUntilMs !== null) p.restUntilMs = Math.max(p.restUntilMs, decision.restUntilMs);
      if (decision.note) result.notes.push({ atMs: now, proxy: e.proxy, note: decision.note });
      continue;
    }
    const index = sendTimes.indexOf(soonestSend);
    const p = proxies[index];
    if (!p) throw new Error('unknown proxy');
    const latency = opts.latencyMs.min + opts.random() * (opts.latencyMs.max - opts.latencyMs.min);
    p.inFlight += 1;
    inFlight += 1;
    p.lastSendMs = now;
    events.push({ atMs: now + latency / 2, kind: 'arrive', proxy: index, sentAtMs: now, doneAtMs: now + latency });
  }
  result.endMs = Math.min(now, opts.durationMs);
  result.states = proxies.map((p) => p.state);
  return result;
}

/** What a run achieved between two times: requests the source accepted per second, and the share of 429s. */
export function measure(result: DriveResult, fromMs: number, toMs: number): { okPerS: number; share429: number; answers: number } {
  const within = result.answers.filter((a) => a.doneAtMs >= fromMs && a.doneAtMs < toMs);
  const limited = within.filter((a) => a.limited).length;
  const ok = within.length - limited;
  return { okPerS: ok / ((toMs - fromMs) / 1000), share429: within.length ? limited / within.length : 0, answers: within.length };
}

/** The requests per second a proxy can carry when only its in-flight cap and the latency limit it. */
export function physicalPerS(settings: PacingSettings, latencyMs: { min: number; max: number }): number {
  return settings.maxInFlight / ((latencyMs.min + latencyMs.max) / 2 / 1000);
}

/** A min-heap of events by time. */
class EventQueue {
  private heap: Event[] = [];

  peekTime(): number {
    return this.heap[0]?.atMs ?? Infinity;
  }

  push(e: Event): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.atMs <= h[i]!.atMs) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }

  pop(): Event | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.atMs < h[m]!.atMs) m = l;
        if (r < h.length && h[r]!.atMs < h[m]!.atMs) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}
