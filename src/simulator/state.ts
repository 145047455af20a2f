/**
 * Everything a simulator holds while it runs: its settings, the population they describe, the counters, the
 * clock and randomness (injectable), and what the source remembers of its clients (rate limits, checkpointed
 * sessions, a 5xx burst in progress).
 */
import type { Socket } from 'node:net';
import { changeSettings } from './profiles.js';
import { Population } from './population.js';
import { RateLimits } from './rate-limits.js';
import { ErrorBursts, SessionCheckpoints } from './realistic.js';
import type { SimulatorOptions, SimulatorSettings } from './settings.js';
import { emptyStats, type SimulatorStats } from './stats.js';

export class SimState {
  #settings: SimulatorSettings;
  #population: Population;
  random: () => number;
  now: () => number;
  /** Updated in place, never replaced: callers keep a reference. */
  readonly stats: SimulatorStats = emptyStats();
  readonly rateLimits = new RateLimits();
  readonly checkpoints = new SessionCheckpoints();
  readonly bursts = new ErrorBursts();
  #seenSockets = new WeakSet<Socket>();

  constructor(options: SimulatorOptions) {
    const { random, now, ...change } = options;
    this.random = random ?? Math.random;
    this.now = now ?? Date.now;
    this.#settings = changeSettings(null, change).settings;
    this.#population = new Population(this.#settings);
  }

  get settings(): SimulatorSettings {
    return this.#settings;
  }

  get population(): Population {
    return this.#population;
  }

  chance(share: number): boolean {
    return share > 0 && this.random() < share;
  }

  /** True the first time a socket is seen (a new connection). */
  firstSeen(socket: Socket): boolean {
    if (this.#seenSockets.has(socket)) return false;
    this.#seenSockets.add(socket);
    return true;
  }

  /** Applies a change of options: clock, randomness, a profile, settings, clearing checkpoints. Throws a ZodError on an invalid one. */
  change(options: SimulatorOptions | object): void {
    const { random, now, ...rest } = options as SimulatorOptions;
    const { settings, actions } = changeSettings(this.#settings, rest);
    // a JSON body may name them too, but only a function is a clock or a source of randomness
    if (typeof random === 'function') this.random = random;
    if (typeof now === 'function') this.now = now;
    const rateChanged = settings.ratePerSecond !== this.#settings.ratePerSecond || settings.burst !== this.#settings.burst;
    this.#settings = settings;
    this.#population = new Population(settings);
    if (rateChanged) this.rateLimits.clearBuckets();
    if (actions.clearCheckpoints) this.checkpoints.clear();
  }

  /** Clears the counters and everything remembered of the clients. */
  reset(): void {
    Object.assign(this.stats, emptyStats());
    this.#seenSockets = new WeakSet();
    this.rateLimits.clear();
    this.checkpoints.clear();
    this.bursts.clear();
  }
}
