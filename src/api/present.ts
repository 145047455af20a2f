/**
 * Stored rows as the API shows them. The shapes are the zod schemas' (schemas.ts), so a field added there
 * without being filled here, or filled here without being documented there, fails to compile.
 */
import type { z } from '@hono/zod-openapi';
import type { BatchProfileRow } from '../repos/batch-profiles.js';
import type { BatchRow } from '../repos/batches.js';
import type { LogRow } from '../repos/logs.js';
import type { NicheRow } from '../repos/niches.js';
import type { Page } from '../repos/pagination.js';
import type { ProfileRow, UpsertProfilesResult } from '../repos/profiles.js';
import { allowedActions, type QueueRows } from '../repos/queue.js';
import { effectiveStatus, type ProxyRow } from '../repos/proxies.js';
import type { SessionRow } from '../repos/sessions.js';
import type { ProfileCheckRow } from '../repos/profile-checks.js';
import type { StoryEventRow } from '../repos/story-events.js';
import type { StoryItemRow } from '../repos/story-timeline.js';
import type { ProfileCheck, StoryEvent, StoryItem } from './story-schemas.js';
import type {
  Batch,
  BatchProfile,
  CreatedProfiles,
  LogItem,
  Niche,
  Profile,
  Proxy,
  Queue,
  Session,
} from './schemas.js';

export type ApiNiche = z.infer<typeof Niche>;
export type ApiProfile = z.infer<typeof Profile>;
export type ApiProxy = z.infer<typeof Proxy>;
export type ApiSession = z.infer<typeof Session>;
export type ApiBatch = z.infer<typeof Batch>;
export type ApiBatchProfile = z.infer<typeof BatchProfile>;
export type ApiLog = z.infer<typeof LogItem>;
export type ApiQueue = z.infer<typeof Queue>;
export type ApiCreatedProfiles = z.infer<typeof CreatedProfiles>;
export type ApiStoryItem = z.infer<typeof StoryItem>;
export type ApiProfileCheck = z.infer<typeof ProfileCheck>;
export type ApiStoryEvent = z.infer<typeof StoryEvent>;

/** A time as the API writes it (ISO-8601, UTC), or null. */
export const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** A page of rows as a page of API items (the cursor is the repository's, untouched). */
export function presentPage<Row, Item>(page: Page<Row>, present: (row: Row) => Item): Page<Item> {
  return { items: page.items.map(present), next_cursor: page.next_cursor };
}

export function toApiNiche(row: NicheRow): ApiNiche {
  return { id: row.id, name: row.name, created_at: row.created_at.toISOString() };
}

/** The cached upstream id stays internal. */
export function toApiProfile(row: ProfileRow): ApiProfile {
  return {
    id: row.id,
    username: row.username,
    niche_id: row.niche_id,
    active_story: row.active_story,
    last_story_detected: iso(row.last_story_detected),
    last_checked_at: iso(row.last_checked_at),
    total_checks: row.total_checks,
    total_detections: row.total_detections,
    created_at: row.created_at.toISOString(),
  };
}

export function toApiCreatedProfiles(result: UpsertProfilesResult): ApiCreatedProfiles {
  return { created: result.created, existing: result.existing, items: result.items.map(toApiProfile) };
}

/** No username, no password: the row read holds none, and nothing here could show them. */
export function toApiProxy(row: ProxyRow, now: Date = new Date()): ApiProxy {
  return {
    id: row.id,
    url: row.url,
    status: effectiveStatus(row, now),
    disabled_reason: row.disabled_reason,
    last_error: row.last_error,
    last_checked_at: iso(row.last_checked_at),
    rate_limited_until: iso(row.rate_limited_until),
    learned_rate_per_s: row.learned_rate_per_s === null ? null : Math.round(row.learned_rate_per_s * 100) / 100,
    last_used_at: iso(row.last_used_at),
    success_count: row.success_count,
    failure_count: row.failure_count,
    consecutive_failures: row.consecutive_failures,
    created_at: row.created_at.toISOString(),
  };
}

/** Proxies read together are shown against one `now`, so a page never disagrees with itself. */
export function toApiProxies(page: Page<ProxyRow>, now: Date = new Date()): Page<ApiProxy> {
  return presentPage(page, (row) => toApiProxy(row, now));
}

export function toApiSession(row: SessionRow): ApiSession {
  return {
    id: row.id,
    proxy_id: row.proxy_id,
    status: row.status,
    last_used_at: iso(row.last_used_at),
    created_at: row.created_at.toISOString(),
  };
}

/** The stored row plus derived counters and the transitions its status allows. */
export function toApiBatch(row: BatchRow): ApiBatch {
  const completed = row.successful_checks + row.failed_checks;
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    position: row.position,
    priority: row.priority,
    total_profiles: row.total_profiles,
    completed_profiles: completed,
    successful_checks: row.successful_checks,
    failed_checks: row.failed_checks,
    stories_found: row.stories_found,
    completion_rate: row.total_profiles === 0 ? 0 : completed / row.total_profiles,
    error: row.error,
    // a stall is about a running batch: once it stops, whatever held it no longer matters
    stalled_reason: row.status === 'running' ? row.stalled_reason : null,
    stalled_since: row.status === 'running' ? iso(row.stalled_since) : null,
    max_age_s: row.max_age_s,
    created_at: row.created_at.toISOString(),
    started_at: iso(row.started_at),
    completed_at: iso(row.completed_at),
    workflow_id: row.workflow_id,
    watch_id: row.watch_id,
    scheduled_at: iso(row.scheduled_at),
    actions: allowedActions(row.status),
  };
}

export function toApiQueue(queue: QueueRows): ApiQueue {
  return {
    paused: queue.paused,
    running: queue.running ? toApiBatch(queue.running) : null,
    queued: queue.queued.map(toApiBatch),
  };
}

export function toApiBatchProfile(row: BatchProfileRow): ApiBatchProfile {
  return {
    profile_id: row.profile_id,
    username: row.username,
    status: row.status,
    has_story: row.has_story,
    story_count: row.story_count,
    error: row.error,
    attempts: row.attempts,
    proxy_id: row.proxy_id,
    duration_ms: row.duration_ms,
    checked_at: iso(row.checked_at),
    source: row.source,
  };
}

export function toApiLog(row: LogRow): ApiLog {
  return {
    id: row.id,
    batch_id: row.batch_id,
    profile_id: row.profile_id,
    proxy_id: row.proxy_id,
    level: row.level,
    event_type: row.event_type,
    message: row.message,
    details: row.details ?? null,
    duration_ms: row.duration_ms,
    created_at: row.created_at.toISOString(),
  };
}

export function toApiStoryItem(row: StoryItemRow): ApiStoryItem {
  return {
    item_pk: row.item_pk,
    taken_at: row.taken_at.toISOString(),
    expiring_at: row.expiring_at.toISOString(),
    media_type: row.media_type,
    status: row.live ? 'live' : 'ended',
    ended_at: iso(row.ended_at),
    first_seen_at: row.first_seen_at.toISOString(),
    first_seen_batch_id: row.first_seen_batch_id,
    last_seen_at: row.last_seen_at.toISOString(),
    last_seen_batch_id: row.last_seen_batch_id,
  };
}

export function toApiProfileCheck(row: ProfileCheckRow): ApiProfileCheck {
  return {
    batch_id: row.batch_id,
    batch_name: row.batch_name,
    checked_at: row.checked_at.toISOString(),
    status: row.status,
    has_story: row.has_story,
    story_count: row.story_count,
    source: row.source,
    error: row.error,
    duration_ms: row.duration_ms,
    proxy_id: row.proxy_id,
  };
}

export function toApiStoryEvent(row: StoryEventRow): ApiStoryEvent {
  return {
    seq: row.seq,
    type: row.type,
    profile_id: row.profile_id,
    username: row.username,
    niche_id: row.niche_id,
    item_pk: row.item_pk,
    batch_id: row.batch_id,
    occurred_at: row.occurred_at.toISOString(),
    recorded_at: row.created_at.toISOString(),
    details: (row.details ?? {}) as ApiStoryEvent['details'],
  };
}
