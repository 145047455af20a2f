/**
 * Recent results: a batch created with `max_age_s > 0` answers a profile from that profile's latest successful
 * upstream check when it is younger than that, without asking the upstream again. The answer copies has_story,
 * story_count and the original checked_at, and is marked `source = 'cache'`. Only upstream results are ever
 * copied, so an answer from the cache never makes a result look younger than it is.
 *
 * Like recordSuccesses (src/repos/batch-profiles.ts) it is idempotent (only rows still pending or running
 * change, and only changed rows count), raises the batch's counters in the same transaction and follows the
 * project's lock order (src/repos/queue.ts): the batch row, then its batch_profiles rows in profile order, then
 * the log insert. Profiles' statistics are left alone: the check they describe was counted when it was made.
 */
import { transaction, type Sql } from '../db/sql.js';
import { insertLog } from './logs.js';

export interface CacheAnswers {
  /** The profiles answered from the cache by this call. */
  answered: Set<string>;
  /** How many of them had a story. */
  storiesFound: number;
}

const NONE: CacheAnswers = { answered: new Set(), storiesFound: 0 };

/**
 * Answers those of `profileIds` (unfinished profiles of a running batch) that have an upstream result younger
 * than the batch's max_age_s (`maxAgeS`, as read with the batch's run state; read again under the lock). The same few statements whatever the number of profiles, and one log row.
 */
export async function answerFromCache(sql: Sql, batchId: string, profileIds: string[], maxAgeS: number): Promise<CacheAnswers> {
  // most batches never use the cache: the batch's max_age_s, as its caller already read it, spares them the
  // transaction holding the batch row
  if (profileIds.length === 0 || maxAgeS === 0) return NONE;

  return transaction(sql, async (tx) => {
    // NO KEY UPDATE, as recordSuccesses: waits for a transition in progress, then sees whether the batch still runs
    const [batch] = await tx<{ max_age_s: number }[]>`
      select max_age_s from batches where id = ${batchId} and status = 'running' for no key update`;
    if (!batch || batch.max_age_s === 0) return NONE;
    const changed = await tx<{ profile_id: string; has_story: boolean }[]>`
      with fresh as (
        select bp.profile_id, latest.has_story, latest.story_count, latest.checked_at
        from batch_profiles bp
        cross join lateral (
          select prev.has_story, prev.story_count, prev.checked_at
          from batch_profiles prev
          -- checked_at is not null: what lets the planner walk a profile's results newest first by index
          where prev.profile_id = bp.profile_id and prev.checked_at is not null and prev.status = 'completed' and prev.source = 'upstream'
          order by prev.checked_at desc
          limit 1
        ) latest
        where bp.batch_id = ${batchId} and bp.profile_id = any(${profileIds}::uuid[]) and bp.status in ('pending', 'running')
          and latest.checked_at > now() - ${batch.max_age_s}::int * interval '1 second'
        order by bp.profile_id
        for update of bp
      )
      update batch_profiles bp set status = 'completed', has_story = f.has_story, story_count = f.story_count,
        error = null, proxy_id = null, duration_ms = null, checked_at = f.checked_at, source = 'cache'
      from fresh f
      where bp.batch_id = ${batchId} and bp.profile_id = f.profile_id
      returning bp.profile_id, bp.has_story`;
    if (changed.length === 0) return NONE;
    const storiesFound = changed.filter((r) => r.has_story).length;
    await tx`
      update batches set successful_checks = successful_checks + ${changed.length},
        stories_found = stories_found + ${storiesFound}, updated_at = now()
      where id = ${batchId}`;
    await insertLog(tx, {
      batchId,
      level: 'INFO',
      eventType: 'RESULTS_FROM_CACHE',
      message: `${changed.length} profile(s) answered from results younger than ${batch.max_age_s} s`,
      details: { profiles: changed.length, max_age_s: batch.max_age_s },
    });
    return { answered: new Set(changed.map((r) => r.profile_id)), storiesFound };
  });
}
