/**
 * The exactly-once invariant of a finished batch, checked after every fault.
 *
 * Stated once, with exact counts:
 * - the batch is `done` and `completed_profiles = successful_checks + failed_checks = total_profiles`;
 * - results = profiles: every batch_profiles row ended `completed` or `failed`, and the batch counters equal
 *   the number of rows in each state (`stories_found` equals the completed rows that saw a story);
 * - each completed profile has exactly one `STORY_CHECK_SUCCESS` log and no `CHECK_FAILED` log; each failed
 *   profile exactly one `CHECK_FAILED` log and no `STORY_CHECK_SUCCESS` log;
 * - each profile's `total_checks` equals its successful checks (completed rows over all batches) and its
 *   `total_detections` the completed rows that saw a story: no check counted twice, none lost;
 * - exactly the expected profiles failed (none, unless the caller names them);
 * - the stories of the batch's profiles: each remembered item has exactly one `story.posted` event, and one
 *   `story.ended` after it (a higher seq) exactly when it has ended; no event names an item that is not remembered.
 *
 * Everything is gathered into one summary and compared at once, so a broken run shows every count that is off.
 */
import { expect } from 'vitest';
import type { Sql } from '../../src/db/sql.js';

export interface ExactlyOnceExpectation {
  /** Usernames expected to end `failed` (default: none; every other profile must be `completed`). */
  failedUsernames?: readonly string[];
}

export interface BatchOutcome {
  status: string;
  total_profiles: number;
  completed_profiles: number;
  successful_checks: number;
  failed_checks: number;
  stories_found: number;
  /** Story items remembered for the batch's profiles (every profile with a story has one at least). */
  remembered_items: number;
}

interface Summary extends BatchOutcome {
  rows: number;
  rows_by_status: Record<string, number>;
  rows_with_story: number;
  success_logs: number;
  failed_logs: number;
  /** Profiles whose logs do not match their final row (should be empty). */
  profiles_with_wrong_logs: string[];
  /** Profiles whose lifetime counters do not match their completed rows (should be empty). */
  profiles_with_wrong_counters: string[];
  failed_usernames: string[];
  /** Items of the batch's profiles (usernames/pk) that break the story rule above (should be empty). */
  items_with_wrong_events: string[];
  /** Events of the batch's profiles that name no remembered item (should be empty). */
  events_without_item: string[];
}

/** The story part of the invariant, read in the caller's snapshot. */
async function storyViolations(
  tx: Sql,
  batchId: string,
): Promise<Pick<Summary, 'items_with_wrong_events' | 'events_without_item' | 'remembered_items'>> {
  const [items] = await tx<{ n: number }[]>`
    select count(*)::int as n from story_items where profile_id in (select profile_id from batch_profiles where batch_id = ${batchId})`;
  const wrong = await tx<{ item: string }[]>`
    select p.username || '/' || i.item_pk as item
    from story_items i
    join profiles p on p.id = i.profile_id
    join lateral (
      select count(*) filter (where e.type = 'story.posted')::int as posted,
             count(*) filter (where e.type = 'story.ended')::int as ended,
             min(e.seq) filter (where e.type = 'story.posted') as posted_seq,
             min(e.seq) filter (where e.type = 'story.ended') as ended_seq
      from story_events e where e.profile_id = i.profile_id and e.item_pk = i.item_pk
    ) e on true
    where i.profile_id in (select profile_id from batch_profiles where batch_id = ${batchId})
      and not (e.posted = 1 and e.ended = (case when i.ended_at is null then 0 else 1 end)
               and (e.ended_seq is null or e.ended_seq > e.posted_seq))
    order by 1`;
  const orphans = await tx<{ event: string }[]>`
    select e.type || ' ' || e.item_pk as event from story_events e
    where e.profile_id in (select profile_id from batch_profiles where batch_id = ${batchId})
      and not exists (select 1 from story_items i where i.profile_id = e.profile_id and i.item_pk = e.item_pk)
    order by e.seq`;
  return {
    items_with_wrong_events: wrong.map((r) => r.item),
    events_without_item: orphans.map((r) => r.event),
    remembered_items: items!.n,
  };
}

/** Reads the whole outcome of a batch in one snapshot (a repeatable-read transaction). */
async function summarise(sql: Sql, batchId: string): Promise<Summary> {
  return sql.begin('isolation level repeatable read', async (tx) => {
    const [batch] = await tx<Omit<BatchOutcome, 'completed_profiles'>[]>`
      select status, total_profiles, successful_checks, failed_checks, stories_found from batches where id = ${batchId}`;
    if (!batch) throw new Error(`batch ${batchId} does not exist`);
    const byStatus = await tx<{ status: string; n: number; with_story: number }[]>`
      select status, count(*)::int as n, count(*) filter (where has_story)::int as with_story
      from batch_profiles where batch_id = ${batchId} group by status order by status`;
    const [logs] = await tx<{ success: number; failed: number }[]>`
      select count(*) filter (where event_type = 'STORY_CHECK_SUCCESS')::int as success,
             count(*) filter (where event_type = 'CHECK_FAILED')::int as failed
      from batch_logs where batch_id = ${batchId}`;
    const wrongLogs = await tx<{ username: string }[]>`
      select p.username
      from batch_profiles bp
      join profiles p on p.id = bp.profile_id
      left join lateral (
        select count(*) filter (where l.event_type = 'STORY_CHECK_SUCCESS')::int as success,
               count(*) filter (where l.event_type = 'CHECK_FAILED')::int as failed
        from batch_logs l where l.batch_id = bp.batch_id and l.profile_id = bp.profile_id
      ) l on true
      where bp.batch_id = ${batchId}
        and not (
          (bp.status = 'completed' and l.success = 1 and l.failed = 0)
          or (bp.status = 'failed' and l.success = 0 and l.failed = 1)
        )
      order by p.username`;
    const wrongCounters = await tx<{ username: string }[]>`
      select p.username
      from profiles p
      join lateral (
        select count(*) filter (where all_bp.status = 'completed')::int as checks,
               count(*) filter (where all_bp.status = 'completed' and all_bp.has_story)::int as detections
        from batch_profiles all_bp where all_bp.profile_id = p.id
      ) c on true
      where p.id in (select profile_id from batch_profiles where batch_id = ${batchId})
        and (p.total_checks <> c.checks or p.total_detections <> c.detections)
      order by p.username`;
    const failed = await tx<{ username: string }[]>`
      select p.username from batch_profiles bp join profiles p on p.id = bp.profile_id
      where bp.batch_id = ${batchId} and bp.status = 'failed' order by p.username`;
    return {
      ...batch,
      completed_profiles: batch.successful_checks + batch.failed_checks,
      rows: byStatus.reduce((sum, r) => sum + r.n, 0),
      rows_by_status: Object.fromEntries(byStatus.map((r) => [r.status, r.n])),
      rows_with_story: byStatus.reduce((sum, r) => sum + r.with_story, 0),
      success_logs: logs!.success,
      failed_logs: logs!.failed,
      profiles_with_wrong_logs: wrongLogs.map((r) => r.username),
      profiles_with_wrong_counters: wrongCounters.map((r) => r.username),
      failed_usernames: failed.map((r) => r.username),
      ...(await storyViolations(tx as unknown as Sql, batchId)),
    };
  }) as Promise<Summary>;
}

/**
 * Asserts the exactly-once invariant on a finished batch of `totalProfiles` profiles; returns the batch's
 * counters for further checks.
 */
export async function expectExactlyOnce(
  sql: Sql,
  batchId: string,
  totalProfiles: number,
  expectation: ExactlyOnceExpectation = {},
): Promise<BatchOutcome> {
  const failedUsernames = [...(expectation.failedUsernames ?? [])].sort();
  const failed = failedUsernames.length;
  const succeeded = totalProfiles - failed;
  const actual = await summarise(sql, batchId);
  const rowsByStatus: Record<string, number> = {};
  if (succeeded > 0) rowsByStatus.completed = succeeded;
  if (failed > 0) rowsByStatus.failed = failed;
  expect(actual).toEqual({
    status: 'done',
    total_profiles: totalProfiles,
    completed_profiles: totalProfiles,
    successful_checks: succeeded,
    failed_checks: failed,
    // which profiles have a story is the upstream's business; the counters must agree with the rows
    stories_found: actual.rows_with_story,
    rows: totalProfiles,
    rows_by_status: rowsByStatus,
    rows_with_story: actual.rows_with_story,
    success_logs: succeeded,
    failed_logs: failed,
    profiles_with_wrong_logs: [],
    profiles_with_wrong_counters: [],
    failed_usernames: failedUsernames,
    items_with_wrong_events: [],
    events_without_item: [],
    remembered_items: actual.remembered_items,
  });
  const { status, total_profiles, completed_profiles, successful_checks, failed_checks, stories_found, remembered_items } = actual;
  return { status, total_profiles, completed_profiles, successful_checks, failed_checks, stories_found, remembered_items };
}

/** What the queue looked like while it was sampled. */
export interface QueueWatch {
  samples: number;
  maxRunning: number;
  violations: string[];
}

/**
 * Samples the queue's invariants until `until` settles (and then awaits it): at most one batch running, queued
 * positions dense, no batch with more results than profiles.
 */
export async function watchQueueInvariants(sql: Sql, until: Promise<unknown>, stepMs = 15): Promise<QueueWatch> {
  let done = false;
  void until.finally(() => (done = true)).catch(() => {});
  const violations: string[] = [];
  let samples = 0;
  let maxRunning = 0;
  while (!done) {
    const rows = await sql<{ status: string; position: number | null; successful_checks: number; failed_checks: number; total_profiles: number }[]>`
      select status, position, successful_checks, failed_checks, total_profiles from batches`;
    samples++;
    maxRunning = Math.max(maxRunning, rows.filter((r) => r.status === 'running').length);
    const queued = rows.filter((r) => r.status === 'queued').map((r) => r.position!).sort((a, b) => a - b);
    if (queued.some((p, i) => p !== i + 1)) violations.push(`positions not dense: ${queued.join(',')}`);
    if (rows.some((r) => r.successful_checks + r.failed_checks > r.total_profiles)) violations.push('completed beyond total');
    await new Promise((r) => setTimeout(r, stepMs));
  }
  await until;
  return { samples, maxRunning, violations };
}
