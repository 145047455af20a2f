/**
 * A profile's finished checks across batches (`GET /profiles/:id/checks`), newest first: its batch_profiles rows
 * that have a result (`checked_at` set: completed, from upstream or the cache, or failed), with their batch's
 * name. A result copied from the cache keeps the original check's time, so it sorts beside that check.
 */
import type { BatchProfileStatus, ResultSource } from '../enums.js';
import { isUuid } from './errors.js';
import type { Queryable } from './logs.js';
import { exactTime, type Page } from './pagination.js';
import { profileHistoryPage, type HistoryPageOptions } from './profile-history.js';

export interface ProfileCheckRow {
  batch_id: string;
  batch_name: string | null;
  checked_at: Date;
  status: Extract<BatchProfileStatus, 'completed' | 'failed'>;
  has_story: boolean | null;
  story_count: number | null;
  source: ResultSource | null;
  error: string | null;
  duration_ms: number | null;
  proxy_id: string | null;
}

/** The profile's checks, `checked_at desc, batch_id desc`; an unknown profile is a NotFoundError, not an empty page. */
export async function listProfileChecks(sql: Queryable, profileId: string, options: HistoryPageOptions): Promise<Page<ProfileCheckRow>> {
  const batchId = { valid: isUuid, of: (row: ProfileCheckRow) => row.batch_id };
  return profileHistoryPage(sql, profileId, options, batchId, (key) => sql<Array<ProfileCheckRow & { key_time: string }>>`
    select bp.batch_id, b.name as batch_name, bp.checked_at, bp.status, bp.has_story, bp.story_count, bp.source,
      bp.error, bp.duration_ms, bp.proxy_id, ${exactTime(sql, 'bp.checked_at')} as key_time
    from batch_profiles bp join batches b on b.id = bp.batch_id
    where bp.profile_id = ${profileId} and bp.checked_at is not null and bp.status in ('completed', 'failed')
      ${key ? sql`and (bp.checked_at, bp.batch_id) < (${key[0]}::text::timestamptz, ${key[1]}::uuid)` : sql``}
    order by bp.checked_at desc, bp.batch_id desc
    limit ${options.limit + 1}`);
}
