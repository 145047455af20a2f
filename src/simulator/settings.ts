/** What the upstream simulator can be told: everything adjustable while it runs, JSON-able. */
import { z } from 'zod';

const rate = z.number().min(0).max(1);
const whole = z.number().int().nonnegative();

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
          liveItems: z.number().int().positive().optional(),
          malformedReel: z.boolean().optional(),
          /** Its lookup is answered with this status and a body holding a NUL byte (a poison answer). */
          poison: z.enum(['400', '500']).optional(),
        }),
      )
      .default({}),
    /** How a missing username is answered: 404, or 200 with `"user": null`. */
    notFoundStyle: z.enum(['404', 'null']).default('404'),
    // timing
    latencyMs: whole.default(0),
    jitterMs: whole.default(0),
    // rate limit per client address (token bucket); 0 = unlimited
    ratePerSecond: z.number().nonnegative().default(0),
    /** Bucket size: requests an idle address may send at once. Default: one second's worth (at least 1). */
    burst: z.number().int().positive().optional(),
    /** Whether rate-limited answers carry Retry-After: true = the seconds until a token is back; a number = fixed. */
    retryAfter: z.union([z.boolean(), whole]).default(true),
    /** Share of requests rate limited at random, whatever the bucket holds (a rate-limit storm). */
    rateLimitShare: rate.default(0),
    /** '429': status 429; 'body': status 400 with the "Please wait a few minutes" body. */
    rateLimitStyle: z.enum(['429', 'body']).default('429'),
    /** When set, requests without this X-IG-App-ID are refused (400 "useragent mismatch"), as the real source does. */
    appId: z.string().min(1).nullable().default(null),
    // sessions
    requireSession: z.boolean().default(false),
    /** Tokens answered 401 login_required. */
    invalidSessions: z.array(z.string()).default([]),
    /** Tokens answered 403 checkpoint_required. */
    checkpointSessions: z.array(z.string()).default([]),
    // faults (shares of requests, 0..1)
    errorRate: rate.default(0),
    malformedRate: rate.default(0),
    /** Share of reels answered corrupted (each reel on its own). */
    malformedReelRate: rate.default(0),
    slowRate: rate.default(0),
    slowMs: whole.default(5_000),
    /** Share of requests whose connection is destroyed without an answer. */
    resetRate: rate.default(0),
  })
  .strict();

export type SimulatorSettings = z.output<typeof simulatorSettingsSchema>;

export type SimulatorOptions = z.input<typeof simulatorSettingsSchema> & {
  /** Source of randomness for faults and jitter (inject a seeded one for reproducible runs). */
  random?: () => number;
  /** Clock in ms (story expiry and rate limits). */
  now?: () => number;
};
