/**
 * The figures of the `api_load` scenario (bench/api-load.ts), its goals and the block printed after the
 * summary table. Pure, so that tests/unit/bench-format.test.ts covers it.
 *
 * Goals (printed with pass / MISS, never failing the run): creates ≥ 200/s with p99 < 500 ms; reads ≥ 2,000/s
 * with p99 < 100 ms; no error and no timeout in any phase; /readyz 200 on every poll; the batch that runs
 * meanwhile at most 20% slower than the same batch unloaded.
 */
import type { ScenarioFigures } from './figures.js';
import { goalLines, type Goal } from './goals.js';

/** One phase, or one kind of request within it (bench/load-phases.ts). */
export interface LoadFigures {
  connections: number;
  seconds: number;
  /** Every answer, whatever its status. */
  answered: number;
  /** Answered correctly: 2xx, or a status the kind expects (409 for transitions). */
  ok: number;
  ok_per_s: number;
  answered_per_s: number;
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  /** Unexpected statuses plus connection errors (timeouts apart). */
  errors: number;
  connection_errors: number;
  timeouts: number;
  /** Requests still waiting STALLED_MS or more when the phase ended (bench/load-phases.ts). */
  stalled: number;
  statuses: Record<string, number>;
  /** The first unexpected answers: status and the start of the body. */
  error_bodies: string[];
}

/** The SSE subscribers of the mix phase (bench/sse-subscribers.ts). */
export interface SseFigures {
  subscribers: number;
  connected: number;
  /** Still open, with a 200, when the phase ended. */
  stayed_connected: number;
  /** Closed by the server (or failed) before the phase ended. */
  ended_early: number;
  events: number;
  events_by_type: Record<string, number>;
  first_event_p50_ms: number | null;
  first_event_p99_ms: number | null;
  failures: string[];
}

/** The /readyz poller's count (bench/readyz-watch.ts). */
export interface ReadyzFigures {
  interval_ms: number;
  polls: number;
  /** Polls answered with anything but 200, or not answered in time. */
  not_200: number;
  not_200_by_phase: Record<string, number>;
  p99_ms: number | null;
  max_ms: number | null;
  /** The first failures: phase, status (or the error) and the start of the body. */
  failures: string[];
}

export interface ApiLoadBatchFigures {
  chunk_size: number;
  requests_needed: number;
  burst: number;
  /** Seconds from the loaded batch's start to the first phase's. */
  load_started_after_s: number;
  /** Whether the batch was still running when the last phase ended (else the load outlasted it). */
  running_at_load_end: boolean;
  checked_at_load_end: number;
}

export interface ApiLoadExtras {
  /** The same batch without the load (run first) and with it (the scenario's `seconds`). */
  unloaded_seconds: number;
  loaded_seconds: number;
  /** 429s of the unloaded run (the loaded run's are the scenario's `rate_limited`). */
  unloaded_rate_limited: number;
  /** loaded / unloaded − 1. */
  batch_slowdown: number;
  batch: ApiLoadBatchFigures;
  phases: {
    creates: LoadFigures;
    reads: LoadFigures;
    mix: LoadFigures & { by_kind?: Record<string, LoadFigures>; sse: SseFigures };
  };
  readyz: ReadyzFigures;
  /** What the API process logged (LOG_LEVEL=warn) over the whole scenario. */
  api_log: { warnings: number; errors: number; messages: Array<{ message: string; count: number }> };
  goals: Goal[];
}

/** The value at quantile q of ascending `sorted` (nearest rank), rounded to ms; null when empty. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Math.round(sorted[index]!);
}

const thousands = (n: number) => n.toLocaleString('en-US');
const ms = (v: number | null) => (v === null ? '-' : `${thousands(v)} ms`);
const signedPercent = (v: number) => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}%`;

export function apiLoadGoals(x: Pick<ApiLoadExtras, 'phases' | 'readyz' | 'batch_slowdown'>): Goal[] {
  const { creates, reads, mix } = x.phases;
  const all = [creates, reads, mix];
  const errors = all.reduce((sum, p) => sum + p.errors, 0);
  // a stalled request is a timeout the phase's end cut short
  const timeouts = all.reduce((sum, p) => sum + p.timeouts + p.stalled, 0);
  const fast = (p: LoadFigures, rate: number, p99: number) => p.ok_per_s >= rate && p.p99_ms !== null && p.p99_ms < p99;
  return [
    { goal: 'creates ≥ 200/s with p99 < 500 ms', actual: `${thousands(creates.ok_per_s)}/s, p99 ${ms(creates.p99_ms)}`, met: fast(creates, 200, 500) },
    { goal: 'reads ≥ 2,000/s with p99 < 100 ms', actual: `${thousands(reads.ok_per_s)}/s, p99 ${ms(reads.p99_ms)}`, met: fast(reads, 2_000, 100) },
    {
      goal: '0 errors and 0 timeouts',
      actual:
        `${thousands(errors)} errors, ${thousands(timeouts)} timeouts or stalled ` +
        `(creates ${creates.errors}/${creates.timeouts + creates.stalled}, reads ${reads.errors}/${reads.timeouts + reads.stalled}, mix ${mix.errors}/${mix.timeouts + mix.stalled})`,
      met: errors === 0 && timeouts === 0,
    },
    {
      goal: '/readyz 200 throughout',
      actual: `${thousands(x.readyz.not_200)} of ${thousands(x.readyz.polls)} polls not 200`,
      met: x.readyz.polls > 0 && x.readyz.not_200 === 0,
    },
    { goal: 'the running batch within 20% of its unloaded time', actual: signedPercent(x.batch_slowdown), met: x.batch_slowdown <= 0.2 },
  ];
}

function statusList(statuses: Record<string, number>): string {
  const list = Object.entries(statuses)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([code, n]) => `${code}×${thousands(n)}`);
  return list.length ? list.join(' ') : 'none';
}

function table(rows: Array<[string, LoadFigures]>): string[] {
  const headers = ['phase', 'conns', 'ok/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'timeouts', 'stalled', 'answers'];
  const cells = rows.map(([name, p]) => [
    name,
    String(p.connections),
    thousands(p.ok_per_s),
    p.p50_ms === null ? '-' : String(p.p50_ms),
    p.p99_ms === null ? '-' : String(p.p99_ms),
    p.max_ms === null ? '-' : String(p.max_ms),
    String(p.errors),
    String(p.timeouts),
    String(p.stalled),
    statusList(p.statuses),
  ]);
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const left = (i: number) => i === 0 || i === headers.length - 1;
  const line = (c: string[]) => `| ${c.map((v, i) => (left(i) ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (left(i) ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(headers), rule, ...cells.map(line)];
}

/** The printed block: the batch, a table of the phases, the SSE subscribers, /readyz, the API's log, the goals. */
export function formatApiLoad(s: ScenarioFigures & ApiLoadExtras): string {
  const { batch, phases, readyz, goals } = s;
  const { sse } = phases.mix;
  const rows: Array<[string, LoadFigures]> = [
    ['creates', phases.creates],
    ['reads', phases.reads],
    ['mix', phases.mix],
    ...Object.entries(phases.mix.by_kind ?? {}).map(([kind, p]): [string, LoadFigures] => [`  mix: ${kind}`, p]),
  ];
  const events = Object.entries(sse.events_by_type)
    .map(([type, n]) => `${type} ${thousands(n)}`)
    .join(', ');
  const lines = [
    `api_load: the API as a process of its own, ${Object.keys(phases).length} phases of load while a batch runs`,
    `  batch: ${thousands(s.profiles)} profiles, ${batch.chunk_size} per request (${batch.requests_needed} requests), ` +
      `${s.proxies} proxies × ${s.per_proxy_rate}/s paced, burst ${batch.burst}: unloaded ${s.unloaded_seconds} s ` +
      `(${s.unloaded_rate_limited} × 429), loaded ${s.loaded_seconds} s (${Number(s.rate_limited ?? 0)} × 429), slowdown ${signedPercent(s.batch_slowdown)}; load started ${batch.load_started_after_s} s into it, ` +
      (batch.running_at_load_end
        ? `batch still running when it ended (${thousands(batch.checked_at_load_end)}/${thousands(s.profiles)} checked)`
        : `THE BATCH ENDED BEFORE THE LOAD DID (the last phase ran partly without it)`),
    ...table(rows).map((l) => `  ${l}`),
    `  SSE (mix): ${sse.subscribers} subscribers on the running batch: ${sse.connected} connected, ${sse.stayed_connected} stayed to the end` +
      `${sse.ended_early ? `, ${sse.ended_early} ended early` : ''}; ${thousands(sse.events)} events${events ? ` (${events})` : ''}; ` +
      `first event p50 ${ms(sse.first_event_p50_ms)}, p99 ${ms(sse.first_event_p99_ms)}`,
    `  /readyz every ${readyz.interval_ms} ms: ${thousands(readyz.polls)} polls, ${thousands(readyz.not_200)} not 200` +
      `${readyz.not_200 ? ` (${Object.entries(readyz.not_200_by_phase).map(([p, n]) => `${p} ${n}`).join(', ')})` : ''}; p99 ${ms(readyz.p99_ms)}, max ${ms(readyz.max_ms)}`,
    `  API log (warn and up): ${thousands(s.api_log.warnings)} warnings, ${thousands(s.api_log.errors)} errors` +
      (s.api_log.messages.length ? `: ${s.api_log.messages.map((m) => `${m.message} ×${m.count}`).join('; ')}` : ''),
  ];
  const bodies = [
    ...Object.entries({ creates: phases.creates, reads: phases.reads, ...(phases.mix.by_kind ?? { mix: phases.mix }) }).flatMap(([name, p]) =>
      p.error_bodies.map((b) => `${name}: ${b}`),
    ),
    ...sse.failures.map((f) => `sse: ${f}`),
    ...readyz.failures.map((f) => `readyz: ${f}`),
  ];
  if (bodies.length) lines.push('  first failures:', ...bodies.slice(0, 12).map((b) => `    ${b}`));
  lines.push(...goalLines(goals));
  return lines.join('\n');
}
