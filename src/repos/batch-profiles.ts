/**
 * Per-profile state of a batch. Results are written idempotently: a row leaves `pending`/`running` once, and
 * only the rows that actually changed feed the profile statistics and batch counters, in the same
 * transaction. A retried activity, a replayed workflow or a second worker can never count a profile twice.
 *
 * Locks follow the project's one order (src/repos/queue.ts): the batch row, then its batch_profiles rows
 * in profile order, then profiles rows in id order, then log inserts. Two overlapping attempts of one chunk,
 * or a chunk and an API transition, therefore queue behind each other instead of deadlocking.
 */
import { transaction, withRetry, type Sql, type Tx } from '../db/sql.js';
import type { BatchProfileStatus, ResultSource } from '../enums.js';
import { isUuid, NotFoundError } from './errors.js';
import { insertLogs, logsInsert, type LogEntry, type Queryable } from './logs.js';
import { decodeCursor, InvalidCursorError, toPage, type Page } from './pagination.js';

export interface ChunkProfile {
  profileId: string;
  username: string;
  upstreamUserId: string | null;
  attempts: number;
  /** The last counted failure (`type: message`), kept so a profile whose tries are spent fails with its cause. */
  error: string | null;
}

/** A chunk of unfinished profiles: their ids, the cursor after it, and the usernames it starts and ends with. */
export interface PagedProfiles {
  profileIds: string[];
  lastOrdinal: number;
  firstUsername: string;
  lastUsername: string;
}

/**
 * The next page of unfinished profiles after `afterOrdinal`, cut into chunks of `chunkSize` ids, each with its
 * last ordinal (the cursor after it) and its first and last usernames (what the chunk's activity summary shows).
 */
export async function nextChunks(
  sql: Sql,
  batchId: string,
  afterOrdinal: number,
  chunkSize: number,
  maxChunks: number,
): Promise<{ chunks: PagedProfiles[] }> {
  // the page is cut first, so the usernames cost one lookup by primary key per paged profile
  const rows = await sql<{ profile_id: string; ordinal: number; username: string }[]>`
    select page.profile_id, page.ordinal, p.username
    from (
      select profile_id, ordinal from batch_profiles
      where batch_id = ${batchId} and status in ('pending', 'running') and ordinal > ${afterOrdinal}
      order by ordinal
      limit ${chunkSize * maxChunks}
    ) page join profiles p on p.id = page.profile_id
    order by page.ordinal`;
  const chunks: PagedProfiles[] = [];
  for (let i = 0; i < rows.length; i += chunkSize) {
    const slice = rows.slice(i, i + chunkSize);
    const first = slice[0]!;
    const last = slice[slice.length - 1]!;
    chunks.push({ profileIds: slice.map((r) => r.profile_id), lastOrdinal: last.ordinal, firstUsername: first.username, lastUsername: last.username });
  }
  return { chunks };
}

/** The chunk's profiles that still need a check (finished ones are skipped: that is what makes retries safe). */
export async function unfinishedProfiles(sql: Sql, batchId: string, profileIds: string[]): Promise<ChunkProfile[]> {
  const rows = await sql<{ profile_id: string; username: string; upstream_user_id: string | null; attempts: number; error: string | null }[]>`
    select bp.profile_id, p.username, p.upstream_user_id, bp.attempts, bp.error
    from batch_profiles bp join profiles p on p.id = bp.profile_id
    where bp.batch_id = ${batchId} and bp.profile_id = any(${profileIds}::uuid[]) and bp.status in ('pending', 'running')
    order by bp.ordinal`;
  return rows.map((r) => ({
    profileId: r.profile_id,
    username: r.username,
    upstreamUserId: r.upstream_user_id,
    attempts: r.attempts,
    error: r.error,
  }));
}

/**
 * Marks the chunk's profiles as being checked, with one PROFILE_CHECK_STARTED log for them all (their ids in
 * its details); returns those that were pending until now (first try).
 */
export async function markRunning(sql: Sql, batchId: string, profileIds: string[], proxyId: string): Promise<string[]> {
  // KEY SHARE on the batch waits for a transition in progress (which holds it FOR UPDATE) and then sees its
  // outcome: a batch that was just paused, cancelled or failed gets no profile marked running again.
  const rows = await withRetry(() => sql<{ profile_id: string; was: BatchProfileStatus }[]>`
    with running_batch as (
      select id from batches where id = ${batchId} and status = 'running' for key share
    ),
    prev as (
      select profile_id, status from batch_profiles
      where batch_id = ${batchId} and profile_id = any(${profileIds}::uuid[]) and status in ('pending', 'running')
        and exists (select 1 from running_batch)
      order by profile_id
      for update
    ),
    marked as (
      update batch_profiles bp set status = 'running', proxy_id = ${proxyId}
      from prev where bp.batch_id = ${batchId} and bp.profile_id = prev.profile_id
      returning bp.profile_id, prev.status as was
    ),
    -- one log per chunk attempt, not one per profile: at 50 profiles a chunk, a row each would cost about as
    -- much again as persisting the results (README, "Throughput")
    logged as (
      insert into batch_logs (batch_id, proxy_id, level, event_type, message, details)
      select ${batchId}, ${proxyId}, 'INFO', 'PROFILE_CHECK_STARTED', 'checking ' || count(*) || ' profile(s)',
        jsonb_build_object('profiles', count(*), 'first_try', count(*) filter (where was = 'pending'),
          'profile_ids', jsonb_agg(profile_id order by profile_id))
      from marked having count(*) > 0
    )
    select profile_id, was from marked`);
  return rows.filter((r) => r.was === 'pending').map((r) => r.profile_id);
}

/** Counts one more attempt for each profile, with the failure it ended in (`type: message`); returns the new counts. */
export async function addAttempt(sql: Sql, batchId: string, profileIds: string[], error?: string): Promise<Map<string, number>> {
  if (profileIds.length === 0) return new Map();
  const rows = await withRetry(() => sql<{ profile_id: string; attempts: number }[]>`
    with target as (
      select profile_id from batch_profiles
      where batch_id = ${batchId} and profile_id = any(${profileIds}::uuid[]) and status in ('pending', 'running')
      order by profile_id
      for update
    )
    update batch_profiles bp set attempts = bp.attempts + 1, error = coalesce(${error ?? null}::text, bp.error)
    from target where bp.batch_id = ${batchId} and bp.profile_id = target.profile_id
    returning bp.profile_id, bp.attempts`);
  return new Map(rows.map((r) => [r.profile_id, r.attempts]));
}

export interface CheckSuccess {
  profileId: string;
  hasStory: boolean;
  storyCount: number;
  latestStoryAt: Date | null;
}

export interface RecordContext {
  batchId: string;
  proxyId: string | null;
  durationMs: number;
  /** Counted into `attempts` for the profiles recorded (the try that produced this result). */
  countAttempt: boolean;
}

/**
 * Persists verified results: per-profile rows, profile statistics, batch counters and logs, in one transaction
 * of two statements, whatever the number of results (locks still taken in the project's order: the batch row,
 * its batch_profiles rows by profile, the profiles by id, then the logs). Returns how many rows it changed
 * (a row already finished by another attempt is left alone) and how many of those found a story.
 */
export async function recordSuccesses(
  sql: Sql,
  ctx: RecordContext,
  results: CheckSuccess[],
): Promise<{ recorded: number; withStory: number }> {
  if (results.length === 0) return { recorded: 0, withStory: 0 };
  return transaction(sql, async (tx) => {
    const changed = await tx<{ profile_id: string; has_story: boolean; story_count: number; username: string }[]>`
      with counters as (
        -- first lock: the batch row whose counters this raises (see lockBatchCounters)
        select id from batches where id = ${ctx.batchId} for no key update
      ),
      input as (
        select * from unnest(${results.map((r) => r.profileId)}::uuid[], ${results.map((r) => String(r.hasStory))}::text[]::boolean[],
          ${results.map((r) => r.storyCount)}::int[]) as t(profile_id, has_story, story_count)
      ),
      target as (
        select profile_id from batch_profiles
        -- by primary key: a join with the input would let the planner walk every unfinished row of the batch
        where batch_id = ${ctx.batchId} and profile_id = any(${results.map((r) => r.profileId)}::uuid[])
          and status in ('pending', 'running') and exists (select 1 from counters)
        order by profile_id
        for update
      )
      update batch_profiles bp set status = 'completed', has_story = i.has_story, story_count = i.story_count,
        error = null, attempts = bp.attempts + ${ctx.countAttempt ? 1 : 0}, proxy_id = ${ctx.proxyId},
        duration_ms = ${ctx.durationMs}, checked_at = now(), source = 'upstream'
      from target t join input i on i.profile_id = t.profile_id
      where bp.batch_id = ${ctx.batchId} and bp.profile_id = t.profile_id
      returning bp.profile_id, bp.has_story, bp.story_count,
        (select username from profiles where id = bp.profile_id) as username`;
    if (changed.length === 0) return { recorded: 0, withStory: 0 };
    const ids = changed.map((r) => r.profile_id);
    const withStory = changed.filter((r) => r.has_story).map((r) => r.profile_id);
    const logs = changed.map(
      (r): LogEntry => ({
        batchId: ctx.batchId,
        profileId: r.profile_id,
        proxyId: ctx.proxyId,
        level: 'INFO',
        eventType: 'STORY_CHECK_SUCCESS',
        message: r.has_story ? `@${r.username} has an active story` : `@${r.username} has no active story`,
        details: { has_story: r.has_story, story_count: r.story_count },
        durationMs: ctx.durationMs,
      }),
    );
    // profiles locked in id order before they are updated; then the counters, then the logs
    await tx`
      with locked as (
        select id from profiles where id = any(${ids}::uuid[]) order by id for no key update
      ),
      stats as (
        update profiles p set total_checks = p.total_checks + 1, last_checked_at = now(),
          active_story = p.id = any(${withStory}::uuid[]),
          total_detections = p.total_detections + case when p.id = any(${withStory}::uuid[]) then 1 else 0 end,
          last_story_detected = case when p.id = any(${withStory}::uuid[]) then now() else p.last_story_detected end
        from locked where p.id = locked.id
      ),
      counters as (
        update batches set successful_checks = successful_checks + ${changed.length},
          stories_found = stories_found + ${withStory.length}, updated_at = now()
        where id = ${ctx.batchId}
        returning id
      )
      ${logsInsert(tx, logs)}`;
    return { recorded: changed.length, withStory: withStory.length };
  });
}

/**
 * First lock of a result-recording transaction: the batch row whose counters it will raise (NO KEY UPDATE,
 * so log inserts and `markRunning` of other chunks, which take KEY SHARE on it, are not held up).
 */
async function lockBatchCounters(tx: Tx, batchId: string): Promise<void> {
  await tx`select 1 from batches where id = ${batchId} for no key update`;
}

export interface CheckFailure {
  profileId: string;
  errorType: string;
  message: string;
}

/** Records permanent failures (not retried again): row failed, batch counter, CHECK_FAILED log. */
export async function recordFailures(sql: Sql, ctx: RecordContext, failures: CheckFailure[]): Promise<number> {
  if (failures.length === 0) return 0;
  return transaction(sql, async (tx) => {
    await lockBatchCounters(tx, ctx.batchId);
    const changed = await tx<{ profile_id: string; error: string }[]>`
      with input as (
        select * from unnest(${failures.map((f) => f.profileId)}::uuid[],
          ${failures.map((f) => `${f.errorType}: ${f.message}`)}::text[]) as t(profile_id, error)
      ),
      target as (
        select profile_id from batch_profiles
        -- by primary key: a join with the input would let the planner walk every unfinished row of the batch
        where batch_id = ${ctx.batchId} and profile_id = any(${failures.map((f) => f.profileId)}::uuid[]) and status in ('pending', 'running')
        order by profile_id
        for update
      )
      update batch_profiles bp set status = 'failed', error = i.error, has_story = null, story_count = null,
        attempts = bp.attempts + ${ctx.countAttempt ? 1 : 0}, proxy_id = ${ctx.proxyId},
        duration_ms = ${ctx.durationMs}, checked_at = now()
      from target t join input i on i.profile_id = t.profile_id
      where bp.batch_id = ${ctx.batchId} and bp.profile_id = t.profile_id
      returning bp.profile_id, bp.error`;
    if (changed.length === 0) return 0;
    await tx`update batches set failed_checks = failed_checks + ${changed.length}, updated_at = now() where id = ${ctx.batchId}`;
    const byId = new Map(failures.map((f) => [f.profileId, f]));
    await insertLogs(
      tx,
      changed.map((r): LogEntry => {
        const f = byId.get(r.profile_id)!;
        return {
          batchId: ctx.batchId,
          profileId: r.profile_id,
          proxyId: ctx.proxyId,
          level: 'ERROR',
          eventType: 'CHECK_FAILED',
          message: `check failed: ${f.message}`,
          details: { error_type: f.errorType, error_message: f.message },
          durationMs: ctx.durationMs,
        };
      }),
    );
    return changed.length;
  });
}

/** A batch's profile with its result, and its place in the batch (`ordinal`). */
export interface BatchProfileRow {
  profile_id: string;
  username: string;
  status: BatchProfileStatus;
  has_story: boolean | null;
  story_count: number | null;
  error: string | null;
  attempts: number;
  proxy_id: string | null;
  duration_ms: number | null;
  checked_at: Date | null;
  /** Null until completed. */
  source: ResultSource | null;
  ordinal: number;
}

/** Which of a batch's profiles a list or an export shows. */
export interface BatchProfileFilter {
  status?: BatchProfileStatus | undefined;
  /** true or false: only completed profiles whose check found, or found no, active story. */
  hasStory?: boolean | null | undefined;
}

/** A NotFoundError unless the batch exists. */
export async function assertBatchExists(sql: Queryable, batchId: string): Promise<void> {
  const [exists] = isUuid(batchId) ? await sql`select 1 from batches where id = ${batchId}` : [];
  if (!exists) throw new NotFoundError(`batch ${batchId} not found`);
}

/** The batch's profiles that pass the filter, after the place `afterOrdinal`, in batch order (no limit). */
function batchProfilesQuery(sql: Queryable, batchId: string, filter: BatchProfileFilter, afterOrdinal: number | null) {
  return sql`
    select bp.profile_id, p.username, bp.status, bp.has_story, bp.story_count, bp.error, bp.attempts, bp.proxy_id,
      bp.duration_ms, bp.checked_at, bp.source, bp.ordinal
    from batch_profiles bp join profiles p on p.id = bp.profile_id
    where bp.batch_id = ${batchId}
      ${filter.status ? sql`and bp.status = ${filter.status}` : sql``}
      ${filter.hasStory != null ? sql`and bp.has_story = ${filter.hasStory}` : sql``}
      ${afterOrdinal !== null ? sql`and bp.ordinal > ${afterOrdinal}` : sql``}
    order by bp.ordinal`;
}

/**
 * A batch's profiles in batch order, optionally by status and by result: `hasStory` true or false leaves only
 * completed profiles whose check found, or found no, active story (the others have no result yet).
 */
export async function listBatchProfiles(
  sql: Sql,
  batchId: string,
  options: BatchProfileFilter & { limit: number; cursor?: string | undefined },
): Promise<Page<BatchProfileRow>> {
  await assertBatchExists(sql, batchId);
  const key = decodeCursor(options.cursor);
  if (key && (key.length !== 1 || typeof key[0] !== 'number' || !Number.isSafeInteger(key[0]) || key[0] < 0)) {
    throw new InvalidCursorError('cursor is not valid');
  }
  const rows = await sql<BatchProfileRow[]>`
    ${batchProfilesQuery(sql, batchId, options, key ? Number(key[0]) : null)}
    limit ${options.limit + 1}`;
  return toPage(rows, options.limit, (r) => [r.ordinal]);
}

/** Every profile of the batch that passes the filter, in batch order, read `rowsPerRead` at a time from one cursor. */
export function batchProfilesCursor(sql: Queryable, batchId: string, filter: BatchProfileFilter, rowsPerRead: number): AsyncIterable<BatchProfileRow[]> {
  return sql<BatchProfileRow[]>`${batchProfilesQuery(sql, batchId, filter, null)}`.cursor(rowsPerRead);
}
