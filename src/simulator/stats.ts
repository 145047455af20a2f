/** What the upstream simulator saw, counted as it answers (GET /__sim/stats). */

export interface SimulatorStats {
  requests: number;
  byEndpoint: Record<string, number>;
  byClientAddress: Record<string, number>;
  byStatus: Record<string, number>;
  rateLimited: number;
  rateLimitedByClientAddress: Record<string, number>;
  /** Distinct TCP connections seen (a client that reuses connections keeps this low). */
  connections: number;
  connectionsByClientAddress: Record<string, number>;
  /** web_profile_info lookups answered, by username. */
  lookupsByUsername: Record<string, number>;
  /** Times each user id was asked in a stories request that was answered. */
  userIdsAsked: Record<string, number>;
  /** Histogram: number of reel_ids in a stories request → requests. */
  reelIdsPerRequest: Record<string, number>;
  maxReelIdsPerRequest: number;
  faults: { errors: number; malformed: number; malformedReels: number; slow: number; resets: number };
  /** Rate-limited answers by cause: the token bucket, a request window, or at random whatever the pace. */
  rateLimitedBy: { bucket: number; window: number; random: number };
  /** reels_media answers sent to the login page for want of a session. */
  redirects: number;
  /** checkpoint_required answers (listed sessions and counted ones). */
  checkpoints: number;
  /** Sessions checkpointed for having sent more than `checkpointAfter` requests. */
  checkpointedSessions: number;
  /** 403 Forbidden answers to flagged addresses. */
  blocked: number;
  blockedByClientAddress: Record<string, number>;
  /** Bursts of 5xx started, and the requests they answered. */
  errorBursts: { started: number; answers: number };
}

function counters(): Record<string, number> {
  return Object.create(null) as Record<string, number>;
}

export function bump(record: Record<string, number>, key: string, by = 1): void {
  record[key] = (record[key] ?? 0) + by;
}

export function emptyStats(): SimulatorStats {
  return {
    requests: 0,
    byEndpoint: counters(),
    byClientAddress: counters(),
    byStatus: counters(),
    rateLimited: 0,
    rateLimitedByClientAddress: counters(),
    connections: 0,
    connectionsByClientAddress: counters(),
    lookupsByUsername: counters(),
    userIdsAsked: counters(),
    reelIdsPerRequest: counters(),
    maxReelIdsPerRequest: 0,
    faults: { errors: 0, malformed: 0, malformedReels: 0, slow: 0, resets: 0 },
    rateLimitedBy: { bucket: 0, window: 0, random: 0 },
    redirects: 0,
    checkpoints: 0,
    checkpointedSessions: 0,
    blocked: 0,
    blockedByClientAddress: counters(),
    errorBursts: { started: 0, answers: 0 },
  };
}
