/**
 * The simulated profiles. Nothing is stored: every fact about a profile is a hash of its username (its user
 * id) or of its user id (private or not, story or not), so any number of profiles exists at no cost and the
 * same username gets the same answers in every run with the same seed.
 *
 * The stories endpoint only ever sees user ids, so everything it answers is derived from the id; explicit
 * overrides are kept by username and looked up by the id they hash to.
 */
import { createHash } from 'node:crypto';

export type StoryState = 'live' | 'expired' | 'none';

export interface ProfileOverride {
  /** `false`: the username does not exist (404). */
  exists?: boolean;
  isPrivate?: boolean;
  /** live: at least one story not expired; expired: a reel holding only expired items; none: no reel. */
  story?: StoryState;
  /** Number of live items when `story` is live (default 1 to 3 by hash). */
  liveItems?: number;
  /** Always answers this profile's reel corrupted (a deterministic per-profile fault). */
  malformedReel?: boolean;
}

export interface PopulationOptions {
  /** Changes every derived fact: two seeds are two different worlds. */
  seed: string;
  /** Share (0..1) of profiles with a live story. */
  storyRate: number;
  /** Share (0..1) of profiles whose reel holds only expired items (no active story). */
  expiredRate: number;
  /** Share (0..1) of private profiles; their reels are never shown (as for an account the session does not follow). */
  privateRate: number;
  /** Usernames that do not exist, besides every username starting with `missing`. */
  missingUsernames: string[];
  overrides: Record<string, ProfileOverride>;
}

export interface SimProfile {
  userId: string;
  username: string;
  isPrivate: boolean;
}

export interface SimStoryItem {
  pk: string;
  taken_at: number;
  expiring_at: number;
}

export interface SimReel {
  id: string;
  latest_reel_media: number;
  items: SimStoryItem[];
}

const USERNAME = /^[a-z0-9._]{1,30}$/;
const DAY_S = 86_400;

function hash64(text: string): bigint {
  return createHash('sha256').update(text).digest().readBigUInt64BE(0);
}

/** A uniform number in [0, 1) from a text. */
export function unit(text: string): number {
  return Number(hash64(text) >> 11n) / 2 ** 53;
}

export class Population {
  readonly #options: PopulationOptions;
  readonly #missing: Set<string>;
  readonly #overridesByName = new Map<string, ProfileOverride>();
  readonly #overridesById = new Map<string, ProfileOverride>();

  constructor(options: PopulationOptions) {
    this.#options = options;
    this.#missing = new Set(options.missingUsernames.map((u) => u.toLowerCase()));
    for (const [username, override] of Object.entries(options.overrides)) {
      this.#overridesByName.set(username.toLowerCase(), override);
      this.#overridesById.set(this.userIdOf(username), override);
    }
  }

  /** The stable user id of a username: 19 digits from its hash. */
  userIdOf(username: string): string {
    const h = hash64(`${this.#options.seed}\0id\0${username.toLowerCase()}`);
    return String(10n ** 18n + (h % (9n * 10n ** 18n)));
  }

  /** The profile behind a username, or null when it does not exist. */
  lookup(username: string): SimProfile | null {
    const name = username.toLowerCase();
    const override = this.#overridesByName.get(name);
    if (!USERNAME.test(name) || override?.exists === false) return null;
    if (override?.exists !== true && (name.startsWith('missing') || this.#missing.has(name))) return null;
    const userId = this.userIdOf(name);
    return { userId, username: name, isPrivate: this.#isPrivate(userId) };
  }

  /** What the stories endpoint shows for a user id. */
  storyState(userId: string): StoryState {
    if (this.#isPrivate(userId)) return 'none';
    const override = this.#overridesById.get(userId);
    if (override?.story) return override.story;
    if (override?.malformedReel) return 'live';
    const r = unit(`${this.#options.seed}\0story\0${userId}`);
    if (r < this.#options.storyRate) return 'live';
    if (r < this.#options.storyRate + this.#options.expiredRate) return 'expired';
    return 'none';
  }

  /** Whether the reel of this id is always answered corrupted. */
  malformedReel(userId: string): boolean {
    return this.#overridesById.get(userId)?.malformedReel === true;
  }

  /**
   * The reel of a user id at `nowS` (unix seconds), or null when it has none. Item times are relative to
   * now, so a live story stays live however long a run takes. Some live reels also carry an expired item,
   * which a client must not count.
   */
  reel(userId: string, nowS: number): SimReel | null {
    const state = this.storyState(userId);
    if (state === 'none') return null;
    const seed = `${this.#options.seed}\0reel\0${userId}`;
    const items: SimStoryItem[] = [];
    if (state === 'live') {
      const override = this.#overridesById.get(userId);
      const count = Math.max(1, override?.liveItems ?? 1 + Math.floor(unit(`${seed}\0count`) * 3));
      for (let i = 0; i < count; i++) {
        // Taken between 1 minute and ~22 hours ago: at least two hours of life left.
        const age = 60 + Math.floor(unit(`${seed}\0age\0${i}`) * (DAY_S - 7_200 - 60));
        items.push(this.#item(seed, i, nowS - age));
      }
    }
    if (state === 'expired' || unit(`${seed}\0stale`) < 0.5) {
      // Taken more than a day ago, so already expired.
      const age = DAY_S + 60 + Math.floor(unit(`${seed}\0stale-age`) * 3_600);
      items.push(this.#item(seed, items.length, nowS - age));
    }
    items.sort((a, b) => a.taken_at - b.taken_at);
    return { id: userId, latest_reel_media: Math.max(...items.map((i) => i.taken_at)), items };
  }

  #item(seed: string, index: number, takenAt: number): SimStoryItem {
    return {
      pk: String(hash64(`${seed}\0pk\0${index}`) % 10n ** 19n),
      taken_at: takenAt,
      expiring_at: takenAt + DAY_S,
    };
  }

  #isPrivate(userId: string): boolean {
    const override = this.#overridesById.get(userId);
    if (override?.isPrivate !== undefined) return override.isPrivate;
    return unit(`${this.#options.seed}\0private\0${userId}`) < this.#options.privateRate;
  }
}
