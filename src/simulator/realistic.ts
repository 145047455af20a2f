/**
 * The real source's hostility beyond the pace (docs/upstream.md, "How the real source behaves"): addresses it has
 * flagged, sessions it checkpoints for having sent too much, and bursts of 5xx. State only, no I/O: the
 * clock and the randomness are arguments.
 */
import { unit } from './hash.js';
import type { SimulatorSettings } from './settings.js';

/** Whether the source refuses everything from this client address: listed, or among the seed's share. */
export function isFlagged(address: string, settings: Pick<SimulatorSettings, 'flaggedAddresses' | 'flaggedShare' | 'seed'>): boolean {
  if (settings.flaggedAddresses.includes(address)) return true;
  return settings.flaggedShare > 0 && unit(`${settings.seed}\0flagged\0${address}`) < settings.flaggedShare;
}

/** Requests per session token; a session past its allowance stays checkpointed until cleared. */
export class SessionCheckpoints {
  readonly #sent = new Map<string, number>();
  readonly #checkpointed = new Set<string>();

  /** Counts a request of the session; true when this request is the one that got it checkpointed. */
  count(token: string, checkpointAfter: number | null): boolean {
    const sent = (this.#sent.get(token) ?? 0) + 1;
    this.#sent.set(token, sent);
    if (checkpointAfter === null || sent <= checkpointAfter || this.#checkpointed.has(token)) return false;
    this.#checkpointed.add(token);
    return true;
  }

  has(token: string): boolean {
    return this.#checkpointed.has(token);
  }

  /** What a person clearing the checkpoints does: every session goes through again, with its count restarted. */
  clear(): void {
    this.#sent.clear();
    this.#checkpointed.clear();
  }
}

const BURST_STATUSES = [500, 502, 503] as const;
export type BurstStatus = (typeof BURST_STATUSES)[number];

type BurstSettings = Pick<SimulatorSettings, 'errorBurstRate' | 'errorBurstRequests' | 'errorBurstMs' | 'timeScale'>;

/** An outage of the whole source: once started, every request gets the burst's 5xx until it ends. */
export class ErrorBursts {
  #burst: { status: BurstStatus; left: number; untilMs: number } | null = null;

  /** The status this request gets from a burst (one it may start), or null when none is on. */
  next(settings: BurstSettings, nowMs: number, random: () => number): { status: BurstStatus; started: boolean } | null {
    // turning bursts off ends the one in progress
    if (settings.errorBurstRate === 0) this.#burst = null;
    if (this.#burst && (this.#burst.left <= 0 || nowMs >= this.#burst.untilMs)) this.#burst = null;
    let started = false;
    if (!this.#burst) {
      if (!(settings.errorBurstRate > 0 && random() < settings.errorBurstRate)) return null;
      const { errorBurstRequests: requests, errorBurstMs: ms } = settings;
      this.#burst = {
        status: BURST_STATUSES[Math.floor(random() * BURST_STATUSES.length)] ?? 500,
        left: requests > 0 ? requests : ms > 0 ? Infinity : 1,
        untilMs: ms > 0 ? nowMs + ms / settings.timeScale : Infinity,
      };
      started = true;
    }
    this.#burst.left--;
    return { status: this.#burst.status, started };
  }

  clear(): void {
    this.#burst = null;
  }
}
