/**
 * The bodies of the source's successful answers (docs/upstream.md), parsed into what a check needs: a user id, or the
 * active stories of each requested id. A body that does not have the documented structure is a MalformedResponse.
 */
import type { StoryMediaType } from '../enums.js';
import { MalformedResponse, ProfileNotFound } from './errors.js';
import { describeIssues, parseReel, reelsMediaEnvelopeSchema, webProfileInfoSchema } from './schemas.js';

export type Endpoint = 'web_profile_info' | 'reels_media';

/** One item of a reel as the source listed it, live or already expired. */
export interface SeenStoryItem {
  pk: string;
  takenAt: Date;
  expiringAt: Date;
  mediaType: StoryMediaType | null;
}

export type StoryResult =
  | { ok: true; hasStory: boolean; storyCount: number; latestStoryAt: Date | null; items: SeenStoryItem[] }
  | { ok: false; error: MalformedResponse };

const MEDIA_TYPES: Record<number, StoryMediaType> = { 1: 'image', 2: 'video' };

/** Parses a 200 of web_profile_info. */
export function parseProfileBody(body: string, username: string): { userId: string; isPrivate: boolean } {
  const parsed = webProfileInfoSchema.safeParse(parseJson(body, 'web_profile_info'));
  if (!parsed.success) {
    throw new MalformedResponse(`web_profile_info: unexpected body (${describeIssues(parsed.error)})`);
  }
  const { user } = parsed.data.data;
  if (user === null) throw new ProfileNotFound('profile not found: web_profile_info answered user null', { status: 200 });
  if (user.username.toLowerCase() !== username.toLowerCase()) {
    throw new MalformedResponse('web_profile_info: answered for another username');
  }
  return { userId: user.id, isPrivate: user.is_private };
}

/**
 * Parses a 200 of reels_media for the requested ids. A story is active when its `expiring_at` is after
 * `now`; `latestStoryAt` is the newest active story's `taken_at`. `items` keeps every item listed, expired ones too:
 * they tell what ended (src/repos/story-diff.ts).
 */
export function parseStoriesBody(body: string, userIds: string[], now: number): Map<string, StoryResult> {
  const envelope = reelsMediaEnvelopeSchema.safeParse(parseJson(body, 'reels_media'));
  if (!envelope.success) {
    throw new MalformedResponse(`reels_media: unexpected body (${describeIssues(envelope.error)})`);
  }
  const { reels } = envelope.data;
  const results = new Map<string, StoryResult>();
  for (const id of userIds) {
    const raw = Object.hasOwn(reels, id) ? reels[id] : undefined;
    if (raw === undefined || raw === null) {
      results.set(id, { ok: true, hasStory: false, storyCount: 0, latestStoryAt: null, items: [] });
      continue;
    }
    const reel = parseReel(id, raw);
    if (!reel.ok) {
      results.set(id, { ok: false, error: new MalformedResponse(`reels_media: malformed reel for ${id} (${reel.problem})`) });
      continue;
    }
    const live = reel.reel.items.filter((item) => item.expiring_at * 1000 > now);
    const latest = live.reduce((max, item) => Math.max(max, item.taken_at), -1);
    results.set(id, {
      ok: true,
      hasStory: live.length > 0,
      storyCount: live.length,
      latestStoryAt: latest >= 0 ? new Date(latest * 1000) : null,
      items: reel.reel.items.map((item) => ({
        pk: String(item.pk),
        takenAt: new Date(item.taken_at * 1000),
        expiringAt: new Date(item.expiring_at * 1000),
        mediaType: MEDIA_TYPES[item.media_type ?? 0] ?? null,
      })),
    });
  }
  return results;
}

function parseJson(body: string, endpoint: Endpoint): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new MalformedResponse(`${endpoint}: body is not JSON`);
  }
}
