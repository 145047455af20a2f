/**
 * A profile's stories as a timeline in absolute time, so an item is the same item on every request and stories
 * appear and end while a client watches. A profile posts on one or more lanes: lane `l` posts item `k` at
 * `φ_l + k·P` (unix seconds; its phase `φ_l` in [0, P) by hash, P = storyPostEveryS) and every item lives
 * storyTtlS. With P = TTL a lane has exactly one live item at every moment; P < TTL overlaps its items, P > TTL
 * leaves gaps without any.
 */
import { hash64, unit } from './hash.js';

export interface TimelineSettings {
  /** How long an item lives, in seconds. */
  storyTtlS: number;
  /** How often each lane posts, in seconds. */
  storyPostEveryS: number;
}

export interface SimStoryItem {
  pk: string;
  taken_at: number;
  expiring_at: number;
  /** 1 image, 2 video: the real source's numbers. */
  media_type: 1 | 2;
}

export class Timeline {
  readonly #seed: string;
  readonly #ttlS: number;
  readonly #everyS: number;

  /** `seed` names the profile (and the world): every lane's phase and every item's pk and media derive from it. */
  constructor(seed: string, settings: TimelineSettings) {
    this.#seed = seed;
    this.#ttlS = settings.storyTtlS;
    this.#everyS = settings.storyPostEveryS;
  }

  /** The items of a lane live at `nowS`: posted by then (taken_at <= nowS) and not expired (expiring_at > nowS), oldest first. */
  live(lane: number, nowS: number): SimStoryItem[] {
    const items: SimStoryItem[] = [];
    const newest = Math.floor((nowS - this.#phase(lane)) / this.#everyS);
    for (let k = this.#lastEndedIndex(lane, nowS) + 1; k <= newest; k++) items.push(this.#item(lane, k));
    return items;
  }

  /** The newest item of a lane that has expired by `nowS` (expiring_at <= nowS). */
  lastEnded(lane: number, nowS: number): SimStoryItem {
    return this.#item(lane, this.#lastEndedIndex(lane, nowS));
  }

  /** Item k expires at φ + k·P + TTL: the largest k for which that is not after now. */
  #lastEndedIndex(lane: number, nowS: number): number {
    return Math.floor((nowS - this.#phase(lane) - this.#ttlS) / this.#everyS);
  }

  #phase(lane: number): number {
    return Math.floor(unit(`${this.#seed}\0phase\0${lane}`) * this.#everyS);
  }

  #item(lane: number, k: number): SimStoryItem {
    const takenAt = this.#phase(lane) + k * this.#everyS;
    const id = `${this.#seed}\0item\0${lane}\0${k}`;
    return {
      pk: String(hash64(`${id}\0pk`) % 10n ** 19n),
      taken_at: takenAt,
      expiring_at: takenAt + this.#ttlS,
      media_type: unit(`${id}\0media`) < 0.5 ? 1 : 2,
    };
  }
}
