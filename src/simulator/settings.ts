/** What the upstream simulator can be told: everything adjustable while it runs, JSON-able. */
import { z } from 'zod';

const rate = z.number().min(0).max(1);
const whole = z.number().int().nonnegative();
const limitWindow = z
  .object({
    requests: z.number().int().positive(),
    windowMs: z.number().positive(),
    kind: z.enum(['sliding', 'fixed']).default('sliding'),
  })
  .strict();

/** Everything adjustable, JSON-able (also what POST /__sim/options accepts). */
export const simulatorSettingsSchema = z
  .object({
    // population
    seed: z.string().default('storycheck'),
    storyRate: rate.default(0.3),
    expiredRate: rate.default(0.1),
    privateRate: rate.default(0),
    missingUsernames: z.array(z.string()).default([]),
    overrides: z
      .record(
        z.string(),
        z.object({
          exists: z.boolean().optional(),
          isPrivate: z.boolean().optional(),
          story: z.enum(['live', 'expired', 'none']).optional(),
          /** Posting lanes of a live profile (default 1 to 3 by hash). */
          liveItems: z.number().int().positive().optional(),
          malformedReel: z.boolean().optional(),
          /** Its lookup is answered with this status and a body holding a NUL byte (a poison answer). */
          poison: z.enum(['400', '500']).optional(),
        }),
      )
      .default({}),
    /** How long a story item lives, in seconds (TTL): it expires that long after it was posted. */
    storyTtlS: z.number().int().positive().default(86_400),
    /**
     * How often each posting lane of a profile posts, in seconds (P). Default: every storyTtlS, so each lane has
     * exactly one live item at every moment; less overlaps its items, more leaves gaps without a story.
     */
    storyPostEveryS: z.number().int().positive().optional(),
    /** How a missing username is answered: 404, or 200 with `"user": null`. */
    notFoundStyle: z.enum(['404', 'null']).default('404'),
    // timing
    latencyMs: whole.default(0),
    jitterMs: whole.default(0),
    // rate limit per client address (token bucket); 0 = unlimited
    ratePerSecond: z.number().nonnegative().default(0),
    /** Bucket size: requests an idle address may send at once. Default: one second's worth (at least 1). */
    burst: z.number().int().positive().optional(),
    /**
     * Whether rate-limited answers carry Retry-After: true = the seconds until allowed again (1 for a random
     * one); a number = that many seconds, always; false = no header (as the real source).
     */
    retryAfter: z.union([z.boolean(), whole]).default(true),
    /** Share of requests rate limited at random, whatever the pace (a rate-limit storm). */
    rateLimitShare: rate.default(0),
    /**
     * '429': status 429; 'body': status 400 with the "Please wait a few minutes" body; '429-wait': status 429
     * with that body.
     */
    rateLimitStyle: z.enum(['429', 'body', '429-wait']).default('429'),
    /**
     * Request windows per client address, all enforced at once (beside the token bucket); a refused request
     * counts too, so sending while limited prolongs the limit.
     */
    windows: z.array(limitWindow).default([]),
    /** The windows of requests without a `sessionid` cookie; null: the same as `windows`. */
    loggedOutWindows: z.array(limitWindow).nullable().default(null),
    /** Divides every duration of the windows and the 5xx bursts: 60 plays an 11-minute window in 11 s. */
    timeScale: z.number().positive().default(1),
    /** When set, requests without this X-IG-App-ID are refused (400 "useragent mismatch"), as the real source does. */
    appId: z.string().min(1).nullable().default(null),
    // sessions
    requireSession: z.boolean().default(false),
    /** Tokens answered 401 login_required. */
    invalidSessions: z.array(z.string()).default([]),
    /** Tokens answered checkpoint_required. */
    checkpointSessions: z.array(z.string()).default([]),
    /** A session that has sent more requests than this is answered checkpoint_required until cleared; null: never. */
    checkpointAfter: whole.nullable().default(null),
    /** The status of a checkpoint_required answer. */
    checkpointStatus: z.union([z.literal(400), z.literal(403)]).default(403),
    /**
     * How reels_media answers a request without a session: as any other ('answer'), 302 to the login page
     * ('redirect'), or 401 login_required ('login_required').
     */
    loggedOutReels: z.enum(['answer', 'redirect', 'login_required']).default('answer'),
    // blocked addresses: answered 403 Forbidden, whatever they ask and with or without a session
    /** Client addresses as the simulator sees them (a proxy's outgoing address; `in-process` for app.request). */
    flaggedAddresses: z.array(z.string()).default([]),
    /** Share of the other addresses flagged too, chosen by the seed (the same ones in every run). */
    flaggedShare: rate.default(0),
    // faults (shares of requests, 0..1)
    errorRate: rate.default(0),
    malformedRate: rate.default(0),
    /** Share of reels answered corrupted (each reel on its own). */
    malformedReelRate: rate.default(0),
    slowRate: rate.default(0),
    slowMs: whole.default(5_000),
    /** Share of requests whose connection is destroyed without an answer. */
    resetRate: rate.default(0),
    /** Chance that a request starts a burst of 5xx (500, 502 or 503, one status per burst). */
    errorBurstRate: rate.default(0),
    /** A burst covers this many requests (the first included); 0: no bound by count (both bounds 0: one request). */
    errorBurstRequests: whole.default(10),
    /** A burst ends after this long (divided by timeScale); 0: no bound by time. */
    errorBurstMs: whole.default(0),
  })
  .strict();

export type SimulatorSettings = z.output<typeof simulatorSettingsSchema>;

/** What a change of settings may ask besides settings: not kept, acted upon once. */
export const simulatorActionsSchema = z.object({
  /** Sets every setting of the profile's behaviours first (`realisticSettings`); the other keys then apply. */
  profile: z.enum(['friendly', 'realistic']).optional(),
  /** Lets every checkpointed session through again and restarts their counts. */
  clearCheckpoints: z.boolean().optional(),
});

export type SimulatorActions = z.infer<typeof simulatorActionsSchema>;

export type SimulatorOptions = z.input<typeof simulatorSettingsSchema> &
  SimulatorActions & {
  /** Source of randomness for faults and jitter (inject a seeded one for reproducible runs). */
  random?: () => number;
  /** Clock in ms (the stories' timelines and rate limits). */
  now?: () => number;
};
