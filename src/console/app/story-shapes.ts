/**
 * The JSON of the stories routes as the page reads it: a profile's remembered story items, its checks across
 * batches, and the story events (docs/api.md).
 */

export interface ApiStoryItem {
  item_pk: string;
  taken_at: string;
  expiring_at: string;
  media_type: 'image' | 'video' | null;
  status: 'live' | 'ended';
  /** null while live; for an ended item, when it ended (its expiry when nothing saw it go earlier) */
  ended_at: string | null;
  first_seen_at: string;
  first_seen_batch_id: string | null;
  last_seen_at: string;
  last_seen_batch_id: string | null;
}

export interface ApiProfileCheck {
  batch_id: string;
  batch_name: string;
  checked_at: string;
  status: 'completed' | 'failed';
  has_story: boolean | null;
  story_count: number | null;
  source: string | null;
  error: string | null;
  duration_ms: number | null;
  proxy_id: string | null;
}

export type StoryEventType = 'story.posted' | 'story.ended';
export const STORY_EVENT_TYPES: readonly StoryEventType[] = ['story.posted', 'story.ended'];

export interface ApiStoryEvent {
  seq: number;
  type: StoryEventType;
  profile_id: string;
  username: string;
  niche_id: string | null;
  item_pk: string;
  batch_id: string | null;
  occurred_at: string;
  recorded_at: string;
  details: { taken_at?: string; expiring_at?: string; media_type?: string | null };
}

/** A page of `GET /events`: events after `after`, in seq order; continue after `next_after`. */
export interface ApiEventPage {
  items: ApiStoryEvent[];
  next_after: number;
  has_more: boolean;
}
