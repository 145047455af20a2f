/**
 * A watch as the API shows it (the Watch schema, src/api/watch-schemas.ts): its row, its profiles (one watch
 * read alone), its latest batch, and what its Schedule says of its next and recent ticks. A field added to the
 * schema without being filled here fails to compile.
 */
import type { z } from '@hono/zod-openapi';
import type { BatchRow } from '../repos/batches.js';
import type { WatchSkipReason } from '../repos/watch-ticks.js';
import type { WatchRow } from '../repos/watches.js';
import { watchScheduleId, type WatchScheduleView } from '../watches/schedule.js';
import { toApiBatch } from './present.js';
import type { Watch } from './watch-schemas.js';

export type ApiWatch = z.infer<typeof Watch>;

export interface WatchExtras {
  /** The watch's own profiles (null in lists and for a niche watch). */
  profileIds: string[] | null;
  lastBatch: BatchRow | null;
  /** Null when the Schedule is missing or Temporal did not answer: no next runs shown then. */
  schedule: WatchScheduleView | null;
}

export function toApiWatch(row: WatchRow, extras: WatchExtras): ApiWatch {
  return {
    id: row.id,
    name: row.name,
    niche_id: row.niche_id,
    profile_ids: extras.profileIds,
    profile_count: row.profile_count,
    every_s: row.every_s,
    cron: row.cron,
    timezone: row.timezone,
    jitter_s: row.jitter_s,
    max_age_s: row.max_age_s,
    priority: row.priority,
    paused: row.paused,
    schedule_id: watchScheduleId(row.id),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    last_tick:
      row.last_tick_at && row.last_tick_result
        ? { at: row.last_tick_at.toISOString(), result: row.last_tick_result, skip_reason: row.last_skip_reason as WatchSkipReason | null }
        : null,
    ticks_skipped: row.ticks_skipped,
    last_batch: extras.lastBatch ? toApiBatch(extras.lastBatch) : null,
    next_runs: (extras.schedule?.nextRuns ?? []).map((d) => d.toISOString()),
    recent_actions: (extras.schedule?.recentActions ?? []).map((a) => ({
      scheduled_at: a.scheduledAt.toISOString(),
      taken_at: a.takenAt.toISOString(),
      workflow_id: a.workflowId,
    })),
  };
}
