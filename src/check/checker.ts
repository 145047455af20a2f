/**
 * The story check of one chunk of a batch (up to 50 profiles): resolve the user ids not yet cached (one
 * lookup each), then ask for all their stories in one upstream request, each request through a proxy (and
 * session) leased from the pool for that request alone (src/check/proxied-request.ts).
 *
 * It is plain code with no Temporal in it, so the same function runs inside the `checkChunk` activity and in
 * the benchmark's plain loop. One attempt is a `ChunkCheck`, with one method per phase: answer from the cache,
 * resolve user ids, fetch the stories, conclude. Whatever must be retried is signalled by throwing `RetryLater` with the wait
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
import type { Config } from '../config.js';
import type { Sql } from '../db/sql.js';
import { backoffMs, type FailurePolicy } from './failure-policy.js';
import { countChecks, countStoryEvents } from '../metrics/worker.js';
import type { ProxyPool } from '../pool/pool.js';
import { createSender, type Blocked, type RequestHooks, type Sent } from './proxied-request.js';
import { redact } from '../logging/redact.js';
import {
  addAttempt,
  markRunning,
  recordFailures,
  recordSuccesses,
  unfinishedProfiles,
  type CheckFailure,
  type CheckSuccess,
  type ChunkProfile,
} from '../repos/batch-profiles.js';
import { readRunState } from '../repos/batches.js';
import { insertLog } from '../repos/logs.js';
import { setUpstreamUserId } from '../repos/profiles.js';
import { answerFromCache } from '../repos/result-cache.js';
import { clearBlocked, noteBlocked } from '../repos/stalls.js';
import { storableText } from '../db/storable-text.js';
import { ProfileNotFound, type UpstreamFailure, type UpstreamFailureKind } from '../upstream/errors.js';
import type { StoryClient } from '../upstream/story-client.js';

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

/**
 * Why an attempt ends to be tried again later (the Temporal failure type the activity reports). The first three
 * are expected waits (the pool working as meant); the others mean the source failed.
 */
export const RETRY_REASONS = ['ProxiesBusy', 'NothingCanBeSent', 'RateLimited', 'UpstreamError', 'MalformedResponse'] as const;
export type RetryReason = (typeof RETRY_REASONS)[number];
export const EXPECTED_WAITS: ReadonlySet<RetryReason> = new Set<RetryReason>(['ProxiesBusy', 'NothingCanBeSent', 'RateLimited']);

/** Try again after `delayMs` (the attempt's unfinished profiles are asked again then). */
export class RetryLater extends Error {
  override name = 'RetryLater';
  constructor(
    readonly reason: RetryReason,
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
    | 'CHECK_TIMEOUT_MS'
    | 'BATCH_STALL_AFTER_MS'
  >;
  /** Must be the pool's clock: waits are computed from the times the pool reports. */
  clock?: () => Date | Promise<Date>;
}

export type CheckHooks = RequestHooks;

/** The type part of a stored `type: message` error. */
const errorTypeOf = (error: string | null) => (error ? (/^([a-z_]+):/.exec(error)?.[1] ?? 'check_error') : 'check_error');

/** The failure kind a retry is reported as. */
const RETRY_REASON_OF: Partial<Record<UpstreamFailureKind, RetryReason>> = {
  malformed_response: 'MalformedResponse',
  rate_limited: 'RateLimited',
};

/** What ends an attempt early: nothing can be sent (Blocked), or the batch no longer lets it send (held). */
type Stop = Blocked | { held: CheckChunkResult };

type Failed = Exclude<Sent<unknown, CheckChunkResult>, { ok: true }>;

interface Settings {
  deps: CheckerDeps;
  now: () => Promise<Date>;
  blockedRecheckMs: number;
  retry: { initialMs: number; maxMs: number; coefficient: number };
}

/** Whether a request may be sent for a batch in this run state. */
function held({ status, queuePaused }: { status: string | null; queuePaused: boolean }): CheckChunkResult | null {
  if (status !== 'running') return { kind: 'stopped', status: status ?? 'missing' };
  if (queuePaused) return { kind: 'deferred' };
  return null;
}

/** One attempt at one chunk: its counters and what it leaves for later live here, one method per phase. */
class ChunkCheck {
  private successful = 0;
  private failed = 0;
  private storiesFound = 0;
  private progressed = false;
  private readonly started = Date.now();
  private stop: Stop | null = null;
  /** Profiles left for a later attempt, and why. */
  private readonly later: ChunkProfile[] = [];
  private laterReason: { kind: string; message: string } | null = null;
  private readonly sender;

  constructor(
    private readonly s: Settings,
    private readonly input: CheckChunkInput,
    private readonly hooks: CheckHooks,
    /** The profiles still to check, narrowed by each phase. */
    private profiles: ChunkProfile[],
  ) {
    const { sql, pool, config } = s.deps;
    const { batchId } = input;
    this.sender = createSender<CheckChunkResult>({
      sql,
      pool,
      config,
      batchId,
      holder: input.holder,
      hooks,
      now: s.now,
      blockedRecheckMs: s.blockedRecheckMs,
      gate: async () => held(await readRunState(sql, batchId)),
      onFirstLease: async (proxyId) => {
        await markRunning(sql, batchId, this.profiles.map((p) => p.profileId), proxyId);
      },
    });
  }

  private get sql() {
    return this.s.deps.sql;
  }

  private done(): CheckChunkResult {
    const { successful, failed, storiesFound } = this;
    return { kind: 'done', successful, failed, storiesFound, requests: this.sender.requests() };
  }

  /** Runs the phases in order; each one narrows `profiles`. */
  async run(maxAgeS: number): Promise<CheckChunkResult> {
    await this.fromCache(maxAgeS);
    if (this.profiles.length === 0) return this.done();
    await this.failSpent();
    await this.resolveIds();
    await this.fetchStories();
    return this.conclude();
  }

  /** Results younger than the batch's max_age_s answer their profiles now, before anything is sent. */
  private async fromCache(maxAgeS: number): Promise<void> {
    const cached = await answerFromCache(this.sql, this.input.batchId, this.profiles.map((p) => p.profileId), maxAgeS);
    this.successful += cached.answered.size;
    this.storiesFound += cached.storiesFound;
    countChecks('story', cached.storiesFound);
    countChecks('no_story', cached.answered.size - cached.storiesFound);
    await this.progress(cached.answered.size);
    this.profiles = this.profiles.filter((p) => !cached.answered.has(p.profileId));
  }

  /**
   * Tries spent by earlier attempts that ended before their failure could be recorded (a crash, or a result the
   * store refused): such a profile fails now, with the cause of its last counted try.
   */
  private async failSpent(): Promise<void> {
    const max = this.s.deps.config.CHECK_MAX_ATTEMPTS;
    const spent = this.profiles.filter((p) => p.attempts >= max);
    if (spent.length === 0) return;
    await this.fail(
      spent.map((p) => ({
        profileId: p.profileId,
        errorType: errorTypeOf(p.error),
        message: `${p.error ?? 'no answer could be recorded'} (after ${p.attempts} attempts)`,
      })),
      null,
    );
    this.profiles = this.profiles.filter((p) => !spent.includes(p));
  }

  /** User ids not cached yet: one lookup each, each answer persisted as it arrives. */
  private async resolveIds(): Promise<void> {
    const { client } = this.s.deps;
    for (const p of this.profiles) {
      if (p.upstreamUserId) continue;
      const sent = await this.sender.send(1, p.username, (target) =>
        client.resolveUserId(target, p.username, this.hooks.signal).catch((err: unknown) => {
          if (err instanceof ProfileNotFound) return null;
          throw err;
        }),
      );
      if (!sent.ok) {
        if (!(await this.onFailure([p], sent))) return;
        continue;
      }
      const found = sent.value;
      if (found === null) {
        // an answer about this profile: it does not exist (final, never retried)
        await this.persisting([p], sent.proxyId, () =>
          this.fail([{ profileId: p.profileId, errorType: 'profile_not_found', message: `@${p.username} does not exist upstream` }], sent.proxyId),
        );
        continue;
      }
      await this.persisting([p], sent.proxyId, () => setUpstreamUserId(this.sql, p.profileId, found.userId, found.isPrivate));
      p.upstreamUserId = found.userId;
    }
  }

  /** All their stories in one request; each reel is judged on its own. */
  private async fetchStories(): Promise<void> {
    const ready = this.stop ? [] : this.profiles.filter((p) => p.upstreamUserId && !this.later.includes(p));
    if (ready.length === 0) return;
    const ids = ready.map((p) => p.upstreamUserId!);
    const subject = `reels:${ids.length === 1 ? ids[0] : `${ids[0]}..${ids[ids.length - 1]}(${ids.length})`}`;
    const sent = await this.sender.send(ready.length, subject, (target) => this.s.deps.client.fetchStories(target, ids, this.hooks.signal));
    if (!sent.ok) {
      await this.onFailure(ready, sent);
      return;
    }
    const { durationMs, checkedAt, results } = sent.value;
    const successes: CheckSuccess[] = [];
    const answered: ChunkProfile[] = [];
    const malformed: ChunkProfile[] = [];
    for (const p of ready) {
      const result = results.get(p.upstreamUserId!);
      if (result?.ok) {
        const { hasStory, storyCount, latestStoryAt, items } = result;
        successes.push({ profileId: p.profileId, hasStory, storyCount, latestStoryAt, items });
        answered.push(p);
      } else {
        malformed.push(p);
      }
    }
    await this.persisting(answered, sent.proxyId, async () => {
      const { recorded: n, withStory, storyEvents } = await recordSuccesses(
        this.sql,
        { batchId: this.input.batchId, proxyId: sent.proxyId, durationMs, countAttempt: true, checkedAt },
        successes,
      );
      countStoryEvents(storyEvents);
      countChecks('story', withStory);
      countChecks('no_story', n - withStory);
      this.successful += n;
      this.storiesFound += withStory;
      await this.progress(n);
    });
    if (malformed.length) {
      // a corrupt reel is an answer about its profile: it counts a try
      const err = { kind: 'malformed_response', message: 'the story source answered with a malformed reel' };
      this.later.push(...(await this.chargeTry(malformed, err, sent.proxyId)));
      this.laterReason = err;
    }
  }

  /** How the attempt ends: done, held, or a RetryLater with the wait that suits why. */
  private async conclude(): Promise<CheckChunkResult> {
    const { stop } = this;
    if (stop && 'held' in stop) return stop.held;
    if (stop) throw await this.blockedRetry(stop);
    if (this.later.length) throw await this.laterRetry();
    return this.done();
  }

  private async blockedRetry(stop: Blocked): Promise<RetryLater> {
    const { config } = this.s.deps;
    let delayMs = stop.delayMs;
    if (stop.blocked) {
      const at = await this.s.now();
      const state = await noteBlocked(this.sql, this.input.batchId, stop.blocked, at, config.BATCH_STALL_AFTER_MS);
      // look again when the stall would begin, so it shows in time even while a proxy rests for an hour
      if (!state.stalled && state.blockedSince) {
        const stallAt = state.blockedSince.getTime() + config.BATCH_STALL_AFTER_MS;
        delayMs = Math.min(delayMs, Math.max(1_000, stallAt - at.getTime() + 1_000));
      }
    }
    return new RetryLater(stop.blocked ? 'NothingCanBeSent' : 'ProxiesBusy', `nothing can be sent now: ${stop.message}`, delayMs);
  }

  private async laterRetry(): Promise<RetryLater> {
    const reason = this.laterReason ?? { kind: 'upstream_error', message: 'retry' };
    const fewestTries = Math.min(...this.later.map((p) => p.attempts));
    const delayMs = backoffMs(fewestTries, this.s.retry);
    await insertLog(this.sql, {
      batchId: this.input.batchId,
      level: 'WARNING',
      eventType: 'CHECK_RETRY',
      message: `${this.later.length} profile check(s) will be retried: ${reason.message}`,
      details: { error_type: reason.kind, error_message: reason.message, profiles: this.later.map((p) => p.username), retry_in_ms: delayMs },
    });
    return new RetryLater(RETRY_REASON_OF[reason.kind as UpstreamFailureKind] ?? 'UpstreamError', reason.message, delayMs);
  }

  /** A failed request: charge, fail or keep its profiles as the policy says; false when the attempt must stop. */
  private async onFailure(about: ChunkProfile[], sent: Failed): Promise<boolean> {
    if ('held' in sent) {
      this.stop = { held: sent.held };
      return false;
    }
    if ('blocked' in sent) {
      this.stop = sent;
      return false;
    }
    const { err, policy, proxyId } = sent;
    const left = policy.countsAttempt ? await this.chargeTry(about, err, proxyId) : about;
    return this.follow(policy, err, left, proxyId);
  }

  private async follow(policy: FailurePolicy, err: UpstreamFailure, left: ChunkProfile[], proxyId: string): Promise<boolean> {
    switch (policy.next) {
      case 'fail':
        await this.fail(left.map((p) => ({ profileId: p.profileId, errorType: err.kind, message: failureMessage(p, err) })), proxyId);
        return true;
      case 'wait':
        this.stop = { blocked: 'no_valid_session', delayMs: this.s.blockedRecheckMs, message: redact(err.message) };
        return false;
      case 'retry_later':
      case 'retry_elsewhere':
        // retry_elsewhere here has run out of proxies to try within this attempt
        this.later.push(...left);
        this.laterReason = { kind: err.kind, message: redact(err.message) };
        return true;
    }
  }

  /**
   * Counts a try for `tried` (the answer was about them), remembering why; those whose tries are now spent
   * are recorded failed. Returns the ones left to try again.
   */
  private async chargeTry(tried: ChunkProfile[], err: { kind: string; message: string }, proxyId: string | null): Promise<ChunkProfile[]> {
    const max = this.s.deps.config.CHECK_MAX_ATTEMPTS;
    const error = storableText(`${err.kind}: ${redact(err.message)}`, 1_000);
    const attempts = await addAttempt(this.sql, this.input.batchId, tried.map((p) => p.profileId), error);
    const spent = tried.filter((p) => (attempts.get(p.profileId) ?? 0) >= max);
    await this.fail(
      spent.map((p) => ({ profileId: p.profileId, errorType: err.kind, message: `${redact(err.message)} (after ${attempts.get(p.profileId)} attempts)` })),
      proxyId,
    );
    for (const p of tried) p.attempts = attempts.get(p.profileId) ?? p.attempts;
    return tried.filter((p) => !spent.includes(p) && attempts.has(p.profileId));
  }

  /** Runs `persist` for an answer about `about`; if it throws, the try still counts (and the error is kept). */
  private async persisting(about: ChunkProfile[], proxyId: string, persist: () => Promise<void>): Promise<void> {
    try {
      await persist();
    } catch (err) {
      await this.chargeTry(about, { kind: 'store_error', message: err instanceof Error ? err.message : String(err) }, proxyId).catch(() => {});
      throw err;
    }
  }

  /** Persists final failures; the first result of the attempt also ends any stall of the batch. */
  private async fail(failures: CheckFailure[], proxyId: string | null): Promise<void> {
    const n = await recordFailures(
      this.sql,
      { batchId: this.input.batchId, proxyId, durationMs: Date.now() - this.started, countAttempt: false },
      failures,
    );
    countChecks('failed', n);
    this.failed += n;
    await this.progress(n);
  }

  private async progress(n: number): Promise<void> {
    if (n === 0 || this.progressed) return;
    this.progressed = true;
    await clearBlocked(this.sql, this.input.batchId, await this.s.now());
  }
}

export function createChecker(deps: CheckerDeps) {
  const { sql, config } = deps;
  const settings: Settings = {
    deps,
    now: async () => (deps.clock ?? (() => new Date()))(),
    /** While blocked, look again this often, so a stall is noticed and its end is picked up promptly. */
    blockedRecheckMs: Math.max(1_000, Math.min(config.CHECK_MAX_INTERVAL_MS, Math.floor(config.BATCH_STALL_AFTER_MS / 2))),
    retry: { initialMs: config.CHECK_INITIAL_INTERVAL_MS, maxMs: config.CHECK_MAX_INTERVAL_MS, coefficient: config.CHECK_BACKOFF },
  };

  async function checkChunk(input: CheckChunkInput, hooks: CheckHooks = {}): Promise<CheckChunkResult> {
    const state = await readRunState(sql, input.batchId);
    const gated = held(state);
    if (gated) return gated;
    const profiles = await unfinishedProfiles(sql, input.batchId, input.profileIds);
    if (profiles.length === 0) return { kind: 'done', successful: 0, failed: 0, storiesFound: 0, requests: 0 };
    return new ChunkCheck(settings, input, hooks, profiles).run(state.maxAgeS);
  }

  return { checkChunk };
}

function failureMessage(p: ChunkProfile, err: UpstreamFailure): string {
  return err instanceof ProfileNotFound ? `@${p.username} does not exist upstream` : redact(err.message);
}

export type Checker = ReturnType<typeof createChecker>;
