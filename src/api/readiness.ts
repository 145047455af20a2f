/**
 * Reachability probes of the two dependencies, each bounded in time: an unreachable Postgres or Temporal
 * must turn into a prompt 503, never a request that hangs (Temporal's client alone keeps retrying an
 * unreachable frontend for about 20 s, postgres.js waits for its connect timeout).
 */
import type { Client } from '@temporalio/client';
import type { Sql } from '../db/sql.js';
import { withTimeout } from '../process/timeouts.js';
import { UnavailableError } from './errors.js';

export const PROBE_TIMEOUT_MS = 2_000;

export async function pingPostgres(sql: Sql, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  try {
    await withTimeout(sql`select 1`.execute(), timeoutMs);
    return true;
  } catch {
    return false;
  }
}

/**
 * Probe calls the timeout gave up on, per client. The client's retry timer of such a call survives it, and
 * firing after the connection closed it throws out of a timer; closing waits for them (`settleTemporalCalls`).
 */
const lingering = new WeakMap<Client, Set<Promise<unknown>>>();

function track(temporal: Client, call: Promise<unknown>): void {
  let calls = lingering.get(temporal);
  if (!calls) lingering.set(temporal, (calls = new Set()));
  calls.add(call);
  const forget = () => calls.delete(call);
  call.then(forget, forget);
}

/** Resolves once every probe call on `temporal` has ended: call before closing its connection. */
export async function settleTemporalCalls(temporal: Client): Promise<void> {
  await Promise.allSettled([...(lingering.get(temporal) ?? [])]);
}

export async function pingTemporal(temporal: Client, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  try {
    // the gRPC deadline stops the client's own retries; the race bounds what the deadline leaves over
    const call = temporal.withDeadline(Date.now() + timeoutMs, () => temporal.workflowService.getSystemInfo({}));
    track(temporal, call);
    await withTimeout(call, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

export interface TemporalGate {
  /** Resolves when Temporal answered recently; otherwise throws UnavailableError('temporal'). */
  require(): Promise<void>;
}

/**
 * Guards the routes that signal the workflows. A batch or queue transition is refused with 503 while
 * Temporal is unreachable, before anything changes in Postgres, so the caller can simply retry. One probe
 * serves every request arriving while it runs, and its answer is reused for a short while.
 */
export function createTemporalGate(temporal: Client, options: { ttlMs?: number; timeoutMs?: number } = {}): TemporalGate {
  const ttlMs = options.ttlMs ?? 2_000;
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  let last: { ok: boolean; at: number } | null = null;
  let inFlight: Promise<boolean> | null = null;

  async function probe(): Promise<boolean> {
    // a failure is remembered for less time, so recovery shows quickly
    if (last && Date.now() - last.at < (last.ok ? ttlMs : Math.min(ttlMs, 1_000))) return last.ok;
    inFlight ??= pingTemporal(temporal, timeoutMs).then((ok) => {
      last = { ok, at: Date.now() };
      inFlight = null;
      return ok;
    });
    return inFlight;
  }

  return {
    async require() {
      if (!(await probe())) throw new UnavailableError('temporal');
    },
  };
}
