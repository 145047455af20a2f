/**
 * What one successful check of a profile means for its remembered stories: which items are new (story.posted),
 * which are seen again, and which have ended (story.ended). Pure, so the rule is tested on its own; the writer
 * (./story-items.ts) applies it inside the transaction that records the check, and the database's unique keys
 * turn a decision taken twice (two overlapping attempts) into one row and one event.
 *
 * The rule:
 * - an item listed and still live that is not remembered yet is posted, first seen now;
 * - an item listed and still live that is remembered is seen again;
 * - a remembered item that has not ended yet ends when the answer no longer lists it, or lists it expired; it
 *   ended at its `expiring_at` when that has passed (it expired while nobody looked), else now (taken down early,
 *   or no longer shown);
 * - an item first seen already expired is not remembered: nobody saw it live, and it would be posted and ended
 *   in one breath.
 */
import type { SeenStoryItem } from '../upstream/answer-bodies.js';

/** A remembered item that has not ended yet. */
export interface OpenStoryItem {
  pk: string;
  expiringAt: Date;
}

export interface StoryDiff {
  posted: SeenStoryItem[];
  seenAgain: string[];
  ended: Array<{ pk: string; endedAt: Date }>;
}

/**
 * Compares the open items of one profile with what a check at `checkedAt` listed. An item that already ended and
 * is listed live again comes out as posted; the writer's insert finds it remembered and posts nothing.
 */
export function diffStories(open: OpenStoryItem[], listed: SeenStoryItem[], checkedAt: Date): StoryDiff {
  const at = checkedAt.getTime();
  const live = new Map<string, SeenStoryItem>();
  for (const item of listed) if (item.expiringAt.getTime() > at) live.set(item.pk, item);

  const diff: StoryDiff = { posted: [], seenAgain: [], ended: [] };
  for (const item of open) {
    if (live.has(item.pk)) diff.seenAgain.push(item.pk);
    else diff.ended.push({ pk: item.pk, endedAt: item.expiringAt.getTime() <= at ? item.expiringAt : checkedAt });
  }
  const remembered = new Set(open.map((o) => o.pk));
  for (const item of live.values()) if (!remembered.has(item.pk)) diff.posted.push(item);
  return diff;
}
