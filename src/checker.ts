/**
 * The story check of one chunk of a batch (up to 50 profiles): resolve the user ids not yet cached (one
 * lookup each), then ask for all their stories in one upstream request, each request through a proxy (and
 * session) leased from the pool for that request alone (src/proxied-request.ts).
 *
 * It is plain code with no Temporal in it, so the same function runs inside the `checkChunk` activity and in
 * the benchmark's plain loop. Whatever must be retried is signalled by throwing `RetryLater` with the wait
 * (the activity turns it into a retryable failure with that `nextRetryDelay`); whatever is final is
 * persisted here and the call returns.
 *
 * Three rules keep a chunk from looping or idling:
 * - Every answer is persisted as soon as it arrives (a cached id, a missing profile, the stories), before
 *   anything else can throw, so a retry never asks the same question again.
 * - A failure is judged by `failurePolicy`: a profile is charged a try only for answers about itself, and
 *   only the profiles of the failed request are. A rate limit, a proxy fault or an unreachable upstream
 *   sends the same request on at once through another proxy, within the same attempt.
 * - A try is counted whatever fails after the answer (a store that refuses the text, say): a profile whose
 *   CHECK_MAX_ATTEMPTS tries are spent is recorded CHECK_FAILED at the start of the next attempt.
 *
 * Profiles with an upstream result younger than the batch's max_age_s are answered from it first, with no
 * request at all (src/repos/result-cache.ts).
 *
 * When nothing can be sent (no usable proxy, every proxy unable to reach the upstream, no valid session) the
 * batch is noted blocked, which becomes a visible stall after BATCH_STALL_AFTER_MS (src/repos/stalls.ts).
 */
import type { Config } from './config.js';
import type { Sql } from './db.js';
import { backoffMs } from './failure-policy.js';
import { countChecks } from './metrics/worker.js';
import type { ProxyPool } from './pool.js';
import { createSender, type Blocked, type RequestHooks, type Sent } from './proxied-request.js';
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
import { insertLog } from './repos/logs.js';
import { setUpstreamUserId } from './repos/profiles.js';
import { answerFromCache } from './repos/result-cache.js';
import { clearBlocked, noteBlocked } from './repos/stalls.js';
import { storableText } from './storable-text.js';
import { ProfileNotFound, type UpstreamFailure } from './upstream/errors.js';
import type { StoryClient } from './upstream/story-client.js';

export interface CheckChunkInput {
  batchId: string;
  profileIds: string[];
  /** Who holds the leases (activity id and attempt): a crashed holder's lease expires and is reclaimed. */
  holder: string;
}

export type CheckChunkResult =
  | { kind: 'done'; successful: number; failed: number; storiesFound: number; requests: number }
  /** The queue is paused: nothing more was sent; run the chunk again once it resumes. */
  | { kind: 'deferred' }
  /** The batch is no longer running (paused or cancelled meanwhile): nothing more was sent. */
  | { kind: 'stopped'; status: string };

/** Try again after `delayMs` (the attempt's unfinished profiles are asked again then). */
export class RetryLater extends Error {
  override name = 'RetryLater';
  constructor(
    readonly reason: string,
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
  }
}

export interface CheckerDeps {
  sql: Sql;
  pool: ProxyPool;
  client: StoryClient;
  config: Pick<
    Config,
    | 'CHECK_MAX_ATTEMPTS'
    | 'CHECK_INITIAL_INTERVAL_MS'
    | 'CHECK_MAX_INTERVAL_MS'
    | 'CHECK_BACKOFF'
    | 'PROXY_MIN_INTERVAL_MS'
    | 'PROXY_LEASE_MS'
    | 'BATCH_STALL_AFTER_MS'
  >;
  /** Must be the pool's clock: waits are computed from the times the pool reports. */
  clock?: () => Date | Promise<Date>;
}

export type CheckHooks = RequestHooks;

/** The type part of a stored `type: message` error. */
const errorTypeOf = (error: string | null) => (error ? (/^([a-z_]+):/.exec(error)?.[1] ?? 'check_error') : 'check_error');

export function createChecker(deps: CheckerDeps) {
  const { sql, pool, client, config } = deps;
  const now = async () => (deps.clock ?? (() => new Date()))();
  /** While blocked, look again this often, so a stall is noticed and its end is picked up promptly. */
  const blockedRecheckMs = Math.max(1_000, Math.min(config.CHECK_MAX_INTERVAL_MS, Math.floor(config.BATCH_STALL_AFTER_MS / 2)));
  const retry = { initialMs: config.CHECK_INITIAL_INTERVAL_MS, maxMs: config.CHECK_MAX_INTERVAL_MS, coefficient: config.CHECK_BACKOFF };

  /** Whether a request may be sent for a batch in this run state. */
  function held({ status, queuePaused }: { status: string | null; queuePaused: boolean }): CheckChunkResult | null {
    if (status !== 'running') return { kind: 'stopped', status: status ?? 'missing' };
    if (queuePaused) return { kind: 'deferred' };
    return null;
  }

  /** Whether a request may be sent now for this batch (checked before every upstream request). */
  async function gate(batchId: string): Promise<CheckChunkResult | null> {
    return held(await readRunState(sql, batchId));
  }

  async function checkChunk(input: CheckChunkInput, hooks: CheckHooks = {}): Promise<CheckChunkResult> {
    const { batchId } = input;
    const state = await readRunState(sql, batchId);
    const gated = held(state);
    if (gated) return gated;

    let profiles = await unfinishedProfiles(sql, batchId, input.profileIds);
    if (profiles.length === 0) return { kind: 'done', successful: 0, failed: 0, storiesFound: 0, requests: 0 };

    let successful = 0;
    let failed = 0;
    let storiesFound = 0;
    let progressed = false;
    const started = Date.now();

    /** Persists final failures; the first result of the attempt also ends any stall of the batch. */
    const fail = async (failures: CheckFailure[], proxyId: string | null) => {
      const n = await recordFailures(sql, { batchId, proxyId, durationMs: Date.now() - started, countAttempt: false }, failures);
      countChecks('failed', n);
      failed += n;
      await progress(n);
    };
    const progress = async (n: number) => {
      if (n === 0 || progressed) return;
      progressed = true;
      await clearBlocked(sql, batchId, await now());
    };

    // results younger than the batch's max_age_s answer their profiles now, when the chunk runs, before anything is sent
    const cached = await answerFromCache(sql, batchId, profiles.map((p) => p.profileId), state.maxAgeS);
    successful += cached.answered.size;
    storiesFound += cached.storiesFound;
    countChecks('story', cached.storiesFound);
    countChecks('no_story', cached.answered.size - cached.storiesFound);
    await progress(cached.answered.size);
    profiles = profiles.filter((p) => !cached.answered.has(p.profileId));
    if (profiles.length === 0) return { kind: 'done', successful, failed, storiesFound, requests: 0 };

    /**
     * Counts a try for `tried` (the answer was about them), remembering why; those whose tries are now spent
     * are recorded failed. Returns the ones left to try again.
     */
    const chargeTry = async (tried: ChunkProfile[], err: { kind: string; message: string }, proxyId: string | null) => {
      const error = storableText(`${err.kind}: ${redact(err.message)}`, 1_000);
      const attempts = await addAttempt(sql, batchId, tried.map((p) => p.profileId), error);
      const spent = tried.filter((p) => (attempts.get(p.profileId) ?? 0) >= config.CHECK_MAX_ATTEMPTS);
      await fail(
        spent.map((p) => ({ profileId: p.profileId, errorType: err.kind, message: `${redact(err.message)} (after ${attempts.get(p.profileId)} attempts)` })),
        proxyId,
      );
      for (const p of tried) p.attempts = attempts.get(p.profileId) ?? p.attempts;
      return tried.filter((p) => !spent.includes(p) && attempts.has(p.profileId));
    };

    // tries spent by earlier attempts that ended before their failure could be recorded (a crash, or a
    // result the store refused): such a profile fails now, with the cause of its last counted try
    const spent = profiles.filter((p) => p.attempts >= config.CHECK_MAX_ATTEMPTS);
    if (spent.length) {
      await fail(
        spent.map((p) => ({
          profileId: p.profileId,
          errorType: errorTypeOf(p.error),
          message: `${p.error ?? 'no answer could be recorded'} (after ${p.attempts} attempts)`,
        })),
        null,
      );
      profiles = profiles.filter((p) => !spent.includes(p));
    }

    const sender = createSender({
      sql,
      pool,
      config,
      batchId,
      holder: input.holder,
      hooks,
      now,
      blockedRecheckMs,
      gate: () => gate(batchId),
      onFirstLease: async (proxyId) => {
        await markRunning(sql, batchId, profiles.map((p) => p.profileId), proxyId);
      },
    });

    /** Runs `persist` for an answer about `about`; if it throws, the try still counts (and the error is kept). */
    const persisting = async (about: ChunkProfile[], proxyId: string, persist: () => Promise<void>) => {
      try {
        await persist();
      } catch (err) {
        const kind = 'store_error';
        await chargeTry(about, { kind, message: err instanceof Error ? err.message : String(err) }, proxyId).catch(() => {});
        throw err;
      }
    };

    // What ends this attempt early, and the profiles left for a later one.
    type Stop = Blocked | { held: CheckChunkResult };
    let stop = null as Stop | null;
    const later: ChunkProfile[] = [];
    let laterReason: { kind: string; message: string } | null = null;

    /** A failed request: charge, fail or keep its profiles as the policy says; false when the attempt must stop. */
    const onFailure = async (about: ChunkProfile[], sent: Exclude<Sent<unknown, CheckChunkResult>, { ok: true }>): Promise<boolean> => {
      if ('held' in sent) {
        stop = { held: sent.held };
        return false;
      }
      if ('blocked' in sent) {
        stop = sent;
        return false;
      }
      const { err, policy, proxyId } = sent;
      const left = policy.countsAttempt ? await chargeTry(about, err, proxyId) : about;
      if (policy.next === 'fail') {
        await fail(left.map((p) => ({ profileId: p.profileId, errorType: err.kind, message: failureMessage(p, err) })), proxyId);
        return true;
      }
      if (policy.next === 'wait') {
        stop = { blocked: 'no_valid_session', delayMs: blockedRecheckMs, message: redact(err.message) };
        return false;
      }
      // retry_later, or retry_elsewhere that ran out of proxies to try within this attempt
      later.push(...left);
      laterReason = { kind: err.kind, message: redact(err.message) };
      return true;
    };

    // 1. user ids not cached yet: one lookup each, each answer persisted as it arrives
    for (const p of profiles) {
      if (p.upstreamUserId) continue;
      const sent = await sender.send(1, (target) =>
        client.resolveUserId(target, p.username, hooks.signal).catch((err: unknown) => {
          if (err instanceof ProfileNotFound) return null;
          throw err;
        }),
      );
      if (!sent.ok) {
        if (!(await onFailure([p], sent))) break;
        continue;
      }
      const found = sent.value;
      if (found === null) {
        // an answer about this profile: it does not exist (final, never retried)
        await persisting([p], sent.proxyId, () =>
          fail([{ profileId: p.profileId, errorType: 'profile_not_found', message: `@${p.username} does not exist upstream` }], sent.proxyId),
        );
        continue;
      }
      await persisting([p], sent.proxyId, () => setUpstreamUserId(sql, p.profileId, found.userId, found.isPrivate));
      p.upstreamUserId = found.userId;
    }

    // 2. all their stories in one request
    const ready = stop ? [] : profiles.filter((p) => p.upstreamUserId && !later.includes(p));
    const finishedHere = new Set<string>();
    if (ready.length > 0) {
      const sent = await sender.send(ready.length, (target) => client.fetchStories(target, ready.map((p) => p.upstreamUserId!), hooks.signal));
      if (!sent.ok) {
        await onFailure(ready, sent);
      } else {
        const { durationMs, results } = sent.value;
        const successes: CheckSuccess[] = [];
        const malformed: ChunkProfile[] = [];
        for (const p of ready) {
          const result = results.get(p.upstreamUserId!);
          if (result?.ok) {
            successes.push({ profileId: p.profileId, hasStory: result.hasStory, storyCount: result.storyCount, latestStoryAt: result.latestStoryAt });
            finishedHere.add(p.profileId);
          } else {
            malformed.push(p);
          }
        }
        await persisting(ready.filter((p) => finishedHere.has(p.profileId)), sent.proxyId, async () => {
          const { recorded: n, withStory } = await recordSuccesses(
            sql,
            { batchId, proxyId: sent.proxyId, durationMs, countAttempt: true },
            successes,
          );
          countChecks('story', withStory);
          countChecks('no_story', n - withStory);
          successful += n;
          storiesFound += withStory;
          await progress(n);
        });
        if (malformed.length) {
          const err = { kind: 'malformed_response', message: 'the story source answered with a malformed reel' };
          later.push(...(await chargeTry(malformed, err, sent.proxyId)));
          laterReason = err;
        }
      }
    }

    const ended = stop as Stop | null;
    if (ended && 'held' in ended) return ended.held;
    if (ended) {
      let delayMs = ended.delayMs;
      if (ended.blocked) {
        const at = await now();
        const state = await noteBlocked(sql, batchId, ended.blocked, at, config.BATCH_STALL_AFTER_MS);
        // look again when the stall would begin, so it shows in time even while a proxy rests for an hour
        if (!state.stalled && state.blockedSince) {
          const stallAt = state.blockedSince.getTime() + config.BATCH_STALL_AFTER_MS;
          delayMs = Math.min(delayMs, Math.max(1_000, stallAt - at.getTime() + 1_000));
        }
      }
      throw new RetryLater(ended.blocked ? 'NothingCanBeSent' : 'ProxiesBusy', `nothing can be sent now: ${ended.message}`, delayMs);
    }
    if (later.length) {
      const reason = laterReason ?? { kind: 'upstream_error', message: 'retry' };
      const fewestTries = Math.min(...later.map((p) => p.attempts));
      const delayMs = backoffMs(fewestTries, retry);
      await insertLog(sql, {
        batchId,
        level: 'WARNING',
        eventType: 'CHECK_RETRY',
        message: `${later.length} profile check(s) will be retried: ${reason.message}`,
        details: { error_type: reason.kind, error_message: reason.message, profiles: later.map((p) => p.username), retry_in_ms: delayMs },
      });
      const kind = reason.kind === 'malformed_response' ? 'MalformedResponse' : reason.kind === 'rate_limited' ? 'RateLimited' : 'UpstreamError';
      throw new RetryLater(kind, reason.message, delayMs);
    }
    return { kind: 'done', successful, failed, storiesFound, requests: sender.requests() };
  }

  return { checkChunk };
}

function failureMessage(p: ChunkProfile, err: UpstreamFailure): string {
  return err instanceof ProfileNotFound ? `@${p.username} does not exist upstream` : redact(err.message);
}

export type Checker = ReturnType<typeof createChecker>;
