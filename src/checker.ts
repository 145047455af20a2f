/**
 * The story check of one chunk of a batch (up to 50 profiles): lease a proxy (and session), resolve the
 * user ids not yet cached, ask for all their stories in one upstream request, persist, release.
 *
 * It is plain code with no Temporal in it, so the same function runs inside the `checkChunk` activity and in
 * the benchmark's plain loop. Whatever must be retried is signalled by throwing `RetryLater` (the activity
 * turns it into a retryable failure, with `nextRetryDelay` when the wait is known, e.g. a proxy's rest);
 * whatever is final is persisted here and the call returns.
 *
 * Attempts: `batch_profiles.attempts` counts the tries that reached the story source about a profile. Rate
 * limits and proxy faults are not the profile's fault and do not count; after CHECK_MAX_ATTEMPTS counted
 * tries a profile is recorded failed (CHECK_FAILED) instead of being retried again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from './config.js';
import type { Sql } from './db.js';
import type { ProxyPool, Lease } from './pool.js';
import { redact } from './redact.js';
import {
  addAttempt,
  markRunning,
  recordFailures,
  recordSuccesses,
  unfinishedProfiles,
  type CheckFailure,
  type CheckSuccess,
  type ChunkProfile,
} from './repos/batch-profiles.js';
import { readRunState } from './repos/batches.js';
import { insertLog, insertLogs } from './repos/logs.js';
import { setUpstreamUserId } from './repos/profiles.js';
import { ProfileNotFound, RateLimited, UpstreamFailure } from './upstream/errors.js';
import type { StoryClient, UpstreamTarget } from './upstream/story-client.js';

/** Longest sleep between heartbeats while pacing. */
const PACE_SLICE_MS = 5_000;

/** Longest wait inside a check for a proxy that is only busy (not resting). */
const BUSY_WAIT_MS = 10_000;

export interface CheckChunkInput {
  batchId: string;
  profileIds: string[];
  /** Who holds the lease (activity id and attempt): a crashed holder's lease expires and is reclaimed. */
  holder: string;
}

export type CheckChunkResult =
  | { kind: 'done'; successful: number; failed: number; storiesFound: number; requests: number }
  /** The queue is paused: nothing was sent; run the chunk again once it resumes. */
  | { kind: 'deferred' }
  /** The batch is no longer running (paused or cancelled meanwhile): nothing was sent. */
  | { kind: 'stopped'; status: string };

/** Try again later: `delayMs` when the wait is known (a proxy's rest), else the retry policy's backoff. */
export class RetryLater extends Error {
  override name = 'RetryLater';
  constructor(
    readonly reason: string,
    message: string,
    readonly delayMs?: number,
  ) {
    super(message);
  }
}

export interface CheckerDeps {
  sql: Sql;
  pool: ProxyPool;
  client: StoryClient;
  config: Pick<Config, 'CHECK_MAX_ATTEMPTS' | 'CHECK_MAX_INTERVAL_MS' | 'PROXY_MIN_INTERVAL_MS' | 'PROXY_LEASE_MS'>;
  /** Must be the pool's clock: waits are computed from the times the pool reports. */
  clock?: () => Date | Promise<Date>;
}

export interface CheckHooks {
  signal?: AbortSignal;
  /** Called after every upstream request (activity heartbeat). */
  heartbeat?: () => void;
}

const targetOf = (lease: Lease): UpstreamTarget => ({
  proxyId: lease.proxyId,
  proxyUrl: lease.proxyUrl,
  proxyUsername: lease.proxyUsername,
  proxyPassword: lease.proxyPassword,
  sessionToken: lease.sessionToken,
});

export function createChecker(deps: CheckerDeps) {
  const { sql, pool, client, config } = deps;
  const nowMs = async () => (await (deps.clock ?? (() => new Date()))()).getTime();

  /** Whether a request may be sent now for this batch (checked before every upstream request). */
  async function gate(batchId: string): Promise<CheckChunkResult | null> {
    const { status, queuePaused } = await readRunState(sql, batchId);
    if (status !== 'running') return { kind: 'stopped', status: status ?? 'missing' };
    if (queuePaused) return { kind: 'deferred' };
    return null;
  }

  /** Counts a try for `profiles`; those out of attempts are recorded failed, the rest are returned. */
  async function countFailedTry(
    batchId: string,
    lease: Lease,
    profiles: ChunkProfile[],
    errorType: string,
    message: string,
  ): Promise<ChunkProfile[]> {
    const attempts = await addAttempt(sql, batchId, profiles.map((p) => p.profileId));
    const exhausted = profiles.filter((p) => (attempts.get(p.profileId) ?? 0) >= config.CHECK_MAX_ATTEMPTS);
    await recordFailures(
      sql,
      { batchId, proxyId: lease.proxyId, durationMs: 0, countAttempt: false },
      exhausted.map((p): CheckFailure => ({ profileId: p.profileId, errorType, message: `${message} (after ${attempts.get(p.profileId)} attempts)` })),
    );
    return profiles.filter((p) => !exhausted.includes(p) && attempts.has(p.profileId));
  }

  async function logRetry(batchId: string, lease: Lease | null, profiles: ChunkProfile[], errorType: string, message: string, delayMs?: number) {
    if (profiles.length === 0) return;
    await insertLog(sql, {
      batchId,
      proxyId: lease?.proxyId ?? null,
      level: 'WARNING',
      eventType: 'CHECK_RETRY',
      message: `${profiles.length} profile check(s) will be retried: ${message}`,
      details: { error_type: errorType, error_message: message, profiles: profiles.map((p) => p.username), retry_in_ms: delayMs ?? null },
    });
  }

  async function checkChunk(input: CheckChunkInput, hooks: CheckHooks = {}): Promise<CheckChunkResult> {
    const { batchId } = input;
    const gated = await gate(batchId);
    if (gated) return gated;

    let profiles = await unfinishedProfiles(sql, batchId, input.profileIds);
    if (profiles.length === 0) return { kind: 'done', successful: 0, failed: 0, storiesFound: 0, requests: 0 };

    // a paced chunk takes at least one interval per request: the lease must outlast it, or the proxy would be
    // handed to another holder mid-chunk
    const requestsAhead = profiles.filter((p) => !p.upstreamUserId).length + 1;
    const leaseMs = config.PROXY_LEASE_MS + requestsAhead * config.PROXY_MIN_INTERVAL_MS;
    let leased = await pool.lease(input.holder, { leaseMs });
    if (!leased.ok && leased.reason === 'all_busy') {
      // every usable proxy is merely in use: one frees up within a request's time, so wait here briefly
      leased = await pool.acquire(input.holder, { timeoutMs: BUSY_WAIT_MS, pollMs: 100, signal: hooks.signal, leaseMs });
    }
    if (!leased.ok) {
      // resting or disabled proxies: a long, known wait, left to a durable retry timer
      const delayMs = leased.retryAt ? Math.max(0, leased.retryAt.getTime() - (await nowMs())) : config.CHECK_MAX_INTERVAL_MS;
      throw new RetryLater('NoProxyAvailable', `no proxy can be used now (${leased.reason})`, delayMs);
    }
    const lease = leased.lease;
    const target = targetOf(lease);
    const started = Date.now();
    let requests = 0;
    let successful = 0;
    let failed = 0;
    let storiesFound = 0;
    let released = false;
    // pacing: requests through this proxy start at least PROXY_MIN_INTERVAL_MS apart, within this lease and
    // (through the pool's next_free_at) across leases
    const interval = config.PROXY_MIN_INTERVAL_MS;
    let lastSentAt: number | null = null;
    let extendedAt = Date.now();
    /** Before each request: wait out the pacing interval (heartbeating), and keep the lease alive. */
    const pace = async () => {
      if (interval > 0 && lastSentAt !== null) {
        for (let wait = lastSentAt + interval - Date.now(); wait > 0; wait = lastSentAt + interval - Date.now()) {
          hooks.heartbeat?.();
          await sleep(Math.min(wait, PACE_SLICE_MS), undefined, { signal: hooks.signal });
        }
      }
      // a chunk of slow requests can outlive its lease: renew it before it could be handed to someone else
      if (Date.now() - extendedAt > leaseMs / 2) {
        await pool.extend(lease, leaseMs);
        extendedAt = Date.now();
      }
      lastSentAt = Date.now();
    };
    const release = async (outcome: Parameters<ProxyPool['release']>[1]) => {
      if (released) return;
      const nextFreeAt = interval > 0 && lastSentAt !== null ? new Date(lastSentAt + interval) : undefined;
      await pool.release(lease, outcome, { batchId, nextFreeAt });
      // only once it worked: a release that failed is tried again (as neutral) on the way out
      released = true;
    };

    /**
     * The queue was paused, or the batch paused or cancelled, while this chunk was under way: send nothing
     * more. What is done stays persisted (cached ids, recorded failures); the rest is checked later.
     */
    const stopEarly = async (held: CheckChunkResult): Promise<CheckChunkResult> => {
      await release({ kind: 'neutral' });
      return held;
    };

    try {
      const newlyRunning = await markRunning(sql, batchId, profiles.map((p) => p.profileId), lease.proxyId);
      if (newlyRunning.length) {
        await insertLogs(
          sql,
          profiles
            .filter((p) => newlyRunning.includes(p.profileId))
            .map((p) => ({
              batchId,
              profileId: p.profileId,
              proxyId: lease.proxyId,
              level: 'INFO' as const,
              eventType: 'PROFILE_CHECK_STARTED',
              message: `checking @${p.username}`,
              details: null,
            })),
        );
      }

      // 1. user ids not cached yet: one lookup each; a missing profile is a permanent failure
      const notFound: CheckFailure[] = [];
      for (const p of profiles) {
        if (p.upstreamUserId) continue;
        hooks.signal?.throwIfAborted();
        const held = await gate(batchId);
        if (held) return await stopEarly(held);
        try {
          await pace();
          requests++;
          const found = await client.resolveUserId(target, p.username, hooks.signal);
          await setUpstreamUserId(sql, p.profileId, found.userId, found.isPrivate);
          p.upstreamUserId = found.userId;
        } catch (err) {
          if (!(err instanceof ProfileNotFound)) throw err;
          notFound.push({ profileId: p.profileId, errorType: err.kind, message: `@${p.username} does not exist upstream` });
        } finally {
          hooks.heartbeat?.();
        }
      }
      failed += await recordFailures(sql, { batchId, proxyId: lease.proxyId, durationMs: Date.now() - started, countAttempt: true }, notFound);
      profiles = profiles.filter((p) => p.upstreamUserId);

      // 2. all their stories in one request
      const retryLater: ChunkProfile[] = [];
      if (profiles.length > 0) {
        hooks.signal?.throwIfAborted();
        const held = await gate(batchId);
        if (held) return await stopEarly(held);
        await pace();
        requests++;
        const { durationMs, results } = await client.fetchStories(target, profiles.map((p) => p.upstreamUserId!), hooks.signal);
        hooks.heartbeat?.();
        // the proxy's part is over: hand it to the next chunk before writing to Postgres
        await release({ kind: 'success' });
        const successes: CheckSuccess[] = [];
        const malformed: ChunkProfile[] = [];
        for (const p of profiles) {
          const result = results.get(p.upstreamUserId!);
          if (result?.ok) {
            successes.push({ profileId: p.profileId, hasStory: result.hasStory, storyCount: result.storyCount, latestStoryAt: result.latestStoryAt });
          } else {
            malformed.push(p);
          }
        }
        const ctx = { batchId, proxyId: lease.proxyId, durationMs, countAttempt: true };
        successful += await recordSuccesses(sql, ctx, successes);
        storiesFound += successes.filter((s) => s.hasStory).length;
        if (malformed.length) {
          const message = 'the story source answered with a malformed reel';
          const left = await countFailedTry(batchId, lease, malformed, 'malformed_response', message);
          failed += malformed.length - left.length;
          retryLater.push(...left);
        }
      }
      await release({ kind: 'success' });
      if (retryLater.length) {
        await logRetry(batchId, lease, retryLater, 'malformed_response', 'malformed reel');
        throw new RetryLater('MalformedResponse', `${retryLater.length} profile(s) got a malformed reel`);
      }
      return { kind: 'done', successful, failed, storiesFound, requests };
    } catch (err) {
      if (err instanceof RetryLater) throw err;
      const remaining = (await unfinishedProfiles(sql, batchId, profiles.map((p) => p.profileId)));
      if (!(err instanceof UpstreamFailure)) {
        await release({ kind: 'neutral' });
        throw err;
      }
      const message = redact(err.message);
      switch (err.kind) {
        case 'rate_limited': {
          const retryAfterMs = err instanceof RateLimited ? err.retryAfterMs : undefined;
          await release({ kind: 'rate_limited', retryAfterMs });
          await insertLog(sql, {
            batchId,
            proxyId: lease.proxyId,
            level: 'WARNING',
            eventType: 'RATE_LIMITED',
            message: `rate limited by the story source${retryAfterMs !== undefined ? `; proxy rests ${Math.round(retryAfterMs / 1000)} s` : ''}`,
            details: { retry_after_ms: retryAfterMs ?? null, profiles: remaining.length },
          });
          // the retry leases another proxy: wait only if none is free before this one's rest ends
          const delayMs = await delayUntilProxyFree();
          await logRetry(batchId, lease, remaining, err.kind, message, delayMs);
          throw new RetryLater('RateLimited', message, delayMs);
        }
        case 'proxy_failure': {
          await release({ kind: 'proxy_failure', message });
          await logRetry(batchId, lease, remaining, err.kind, message, 0);
          throw new RetryLater('ProxyFailure', message, 0);
        }
        case 'session_invalid': {
          await release({ kind: 'session_invalid', message });
          // without a session to blame, the try counts against the profiles
          const left = lease.sessionId ? remaining : await countFailedTry(batchId, lease, remaining, err.kind, message);
          await logRetry(batchId, lease, left, err.kind, message, 0);
          if (left.length === 0) return { kind: 'done', successful, failed: failed + remaining.length, storiesFound, requests };
          throw new RetryLater('SessionInvalid', message, lease.sessionId ? 0 : undefined);
        }
        default: {
          // upstream error or malformed body: the profiles' tries count; retried with backoff until exhausted
          await release({ kind: 'neutral' });
          const left = await countFailedTry(batchId, lease, remaining, err.kind, message);
          failed += remaining.length - left.length;
          if (left.length === 0) return { kind: 'done', successful, failed, storiesFound, requests };
          await logRetry(batchId, lease, left, err.kind, message);
          throw new RetryLater(err.kind === 'malformed_response' ? 'MalformedResponse' : 'UpstreamError', message);
        }
      }
    } finally {
      if (!released) await release({ kind: 'neutral' }).catch(() => {});
    }
  }

  async function delayUntilProxyFree(): Promise<number> {
    const stats = await pool.stats();
    if (stats.usable > 0 || !stats.nextFreeAt) return 0;
    return Math.max(0, stats.nextFreeAt.getTime() - (await nowMs()));
  }

  return { checkChunk };
}

export type Checker = ReturnType<typeof createChecker>;
