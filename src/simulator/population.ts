/**
 * The simulated profiles. Nothing is stored: every fact about a profile is a hash of its username (its user
 * id) or of its user id (private or not, story or not, its posting timeline), so any number of profiles exists
 * at no cost and the same username gets the same answers in every run with the same seed.
 *
 * The stories endpoint only ever sees user ids, so everything it answers is derived from the id; explicit
 * overrides are kept by username and looked up by the id they hash to.
 */
import { hash64, unit } from './hash.js';
import { Timeline, type SimStoryItem } from './timeline.js';

export type { SimStoryItem } from './timeline.js';

export type StoryState = 'live' | 'expired' | 'none';

export interface ProfileOverride {
  /** `false`: the username does not exist (404). */
  exists?: boolean;
  isPrivate?: boolean;
  /** live: it posts stories; expired: a reel holding only its last, expired item; none: no reel. */
  story?: StoryState;
  /** Its posting lanes when `story` is live (default 1 to 3 by hash): its live items at every moment when P = TTL. */
  liveItems?: number;
  /** Always answers this profile's reel corrupted (a deterministic per-profile fault). */
  malformedReel?: boolean;
}

export interface PopulationOptions {
  /** Changes every derived fact: two seeds are two different worlds. */
  seed: string;
  /** Share (0..1) of profiles that post stories (with a live story at every moment when P = TTL). */
  storyRate: number;
  /** Share (0..1) of profiles whose reel holds only expired items (no active story). */
  expiredRate: number;
  /** Share (0..1) of private profiles; their reels are never shown (as for an account the session does not follow). */
  privateRate: number;
  /** Usernames that do not exist, besides every username starting with `missing`. */
  missingUsernames: string[];
  overrides: Record<string, ProfileOverride>;
  /** How long an item lives, in seconds (TTL). */
  storyTtlS: number;
  /** How often each posting lane posts, in seconds (P); unset: every TTL. */
  storyPostEveryS?: number | undefined;
}

export interface SimProfile {
  userId: string;
  username: string;
  isPrivate: boolean;
}

export interface SimReel {
  id: string;
  latest_reel_media: number;
  items: SimStoryItem[];
}

const USERNAME = /^[a-z0-9._]{1,30}$/;

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
   * The reel of a user id at `nowS` (unix seconds), or null when it has none. A posting profile shows the items
   * of its lanes live at that moment (see timeline.ts); about half of them also show lane 0's last ended item,
   * which a client must not count, and an `expired` profile shows only that one. A posting profile caught in a
   * gap (P > TTL) with nothing to show has no reel.
   */
  reel(userId: string, nowS: number): SimReel | null {
    const state = this.storyState(userId);
    if (state === 'none') return null;
    const seed = `${this.#options.seed}\0reel\0${userId}`;
    const timeline = new Timeline(seed, {
      storyTtlS: this.#options.storyTtlS,
      storyPostEveryS: this.#options.storyPostEveryS ?? this.#options.storyTtlS,
    });
    const items: SimStoryItem[] = [];
    if (state === 'live') {
      const override = this.#overridesById.get(userId);
      const lanes = Math.max(1, override?.liveItems ?? 1 + Math.floor(unit(`${seed}\0count`) * 3));
      for (let lane = 0; lane < lanes; lane++) items.push(...timeline.live(lane, nowS));
    }
    if (state === 'expired' || unit(`${seed}\0stale`) < 0.5) items.push(timeline.lastEnded(0, nowS));
    if (items.length === 0) return null;
    items.sort((a, b) => a.taken_at - b.taken_at);
    return { id: userId, latest_reel_media: Math.max(...items.map((i) => i.taken_at)), items };
  }

  #isPrivate(userId: string): boolean {
    const override = this.#overridesById.get(userId);
    if (override?.isPrivate !== undefined) return override.isPrivate;
    return unit(`${this.#options.seed}\0private\0${userId}`) < this.#options.privateRate;
  }
}
