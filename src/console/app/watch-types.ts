/**
 * A watch as GET /watches and GET /watches/:id answer it (the shared design of the watches API): the console
 * reads these fields only.
 */
import type { ApiBatch } from '../../api/present.js';

export interface ApiWatch {
  id: string;
  name: string;
  niche_id: string | null;
  /** Given by GET /watches/:id; null in the list and for a niche watch. */
  profile_ids: string[] | null;
  profile_count: number;
  every_s: number | null;
  cron: string | null;
  timezone: string;
  jitter_s: number;
  max_age_s: number;
  priority: number;
  paused: boolean;
  schedule_id: string;
  created_at: string;
  updated_at: string;
  last_tick: { at: string; result: 'created' | 'skipped'; skip_reason: string | null } | null;
  ticks_skipped: number;
  last_batch: ApiBatch | null;
  /** The Schedule's next times (ISO), up to 5. */
  next_runs: string[];
  recent_actions: Array<{ scheduled_at: string; taken_at: string; workflow_id: string }>;
}
