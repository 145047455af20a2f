/**
 * Watches as stored: a name, a selection (a niche, read when each tick creates its batch, or a fixed list of
 * profiles in watch_profiles), a cadence, and the last tick's outcome. The watch's Temporal Schedule is made
 * from this row (src/watches/schedule.ts): the row is the source of truth, the Schedule follows it.
 */
import { transaction, type Sql, type Tx } from '../db/sql.js';
import type { WatchTickResult } from '../enums.js';
import type { BatchRow } from './batches.js';
import { isUuid, NotFoundError, ValidationError } from './errors.js';
import { nicheExists } from './niches.js';
import { decodeTimeKey, exactTime, toTimeKeyedPage, type Page } from './pagination.js';
import { knownProfileIds } from './profiles.js';
import { isKnownTimezone, isValidCron } from './watch-cadence.js';

export interface WatchRow {
  id: string;
  name: string;
  niche_id: string | null;
  every_s: number | null;
  cron: string | null;
  timezone: string;
  jitter_s: number;
  max_age_s: number;
  priority: number;
  paused: boolean;
  last_tick_at: Date | null;
  last_tick_result: WatchTickResult | null;
  last_skip_reason: string | null;
  ticks_skipped: number;
  created_at: Date;
  updated_at: Date;
  /** Profiles the selection holds now (a niche's current profiles, or the watch's own list). */
  profile_count: number;
}

/** The selection: exactly one of the two. */
export interface WatchSelection {
  niche_id?: string | undefined;
  profile_ids?: string[] | undefined;
}

/** The cadence: exactly one of the two. */
export interface WatchCadence {
  every_s?: number | undefined;
  cron?: string | undefined;
}

export interface WatchSettings {
  name: string;
  timezone: string;
  jitter_s: number;
  max_age_s: number;
  priority: number;
  paused: boolean;
}

export type CreateWatchInput = WatchSelection & WatchCadence & WatchSettings;
export type UpdateWatchInput = WatchSelection & WatchCadence & Partial<Omit<WatchSettings, 'paused'>>;

/** The selection as stored: a niche, or profiles in order (duplicates dropped). Null when none was given. */
type ResolvedSelection = { nicheId: string; profileIds: null } | { nicheId: null; profileIds: string[] };

/** Exactly one of `a` and `b` given (an update may give neither: `optional`). */
function oneOf(input: object, a: string, b: string, what: string, optional: boolean): void {
  const given = [a, b].filter((k) => (input as Record<string, unknown>)[k] !== undefined);
  if (given.length === 2) throw new ValidationError(`give one ${what}: ${a} or ${b}, not both`, { field: what, given });
  if (given.length === 0 && !optional) throw new ValidationError(`give one ${what}: ${a} or ${b}`, { field: what, given });
}

/** A cron expression and a time zone the Schedule can run (src/repos/watch-cadence.ts). */
function checkCadence(input: { cron?: string | undefined; timezone?: string | undefined }): void {
  if (input.cron !== undefined && !isValidCron(input.cron)) {
    throw new ValidationError('cron must be five fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly', { field: 'cron' });
  }
  if (input.timezone !== undefined && !isKnownTimezone(input.timezone)) {
    throw new ValidationError('timezone must be an IANA time zone name, such as UTC or Europe/Paris', { field: 'timezone' });
  }
}

/** Checks the selection against the database (the niche exists, every profile does). */
async function resolveSelection(sql: Sql, input: WatchSelection): Promise<ResolvedSelection | null> {
  if (input.niche_id !== undefined) {
    const nicheId = input.niche_id.toLowerCase();
    if (!(await nicheExists(sql, nicheId))) {
      throw new ValidationError(`niche ${input.niche_id} does not exist`, { field: 'niche_id', niche_id: input.niche_id });
    }
    return { nicheId, profileIds: null };
  }
  if (input.profile_ids === undefined) return null;
  const ids = [...new Set(input.profile_ids.map((id) => id.toLowerCase()))];
  if (ids.length === 0) throw new ValidationError('profile_ids holds no profiles', { field: 'profile_ids' });
  const known = await knownProfileIds(sql, ids);
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new ValidationError(`${unknown.length} unknown profile id${unknown.length === 1 ? '' : 's'}: ${unknown.slice(0, 10).join(', ')}`, {
      field: 'profile_ids',
      unknown_profile_ids: unknown.slice(0, 100),
    });
  }
  return { nicheId: null, profileIds: ids };
}

async function writeProfiles(tx: Tx, watchId: string, profileIds: string[]): Promise<void> {
  await tx`delete from watch_profiles where watch_id = ${watchId}`;
  if (profileIds.length === 0) return;
  await tx`
    insert into watch_profiles (watch_id, profile_id, ordinal)
    select ${watchId}, t.pid, t.ord::int from unnest(${profileIds}::uuid[]) with ordinality as t(pid, ord)`;
}

/** The columns of WatchRow, profile_count included. */
function watchColumns(sql: Sql | Tx) {
  return sql`
    w.*,
    case when w.niche_id is null
      then (select count(*) from watch_profiles wp where wp.watch_id = w.id)
      else (select count(*) from profiles p where p.niche_id = w.niche_id)
    end::int as profile_count`;
}

export async function createWatch(sql: Sql, input: CreateWatchInput): Promise<WatchRow> {
  oneOf(input, 'niche_id', 'profile_ids', 'selection', false);
  oneOf(input, 'every_s', 'cron', 'cadence', false);
  checkCadence(input);
  const selection = (await resolveSelection(sql, input))!;
  return transaction(sql, async (tx) => {
    const [row] = await tx<{ id: string }[]>`
      insert into watches (name, niche_id, every_s, cron, timezone, jitter_s, max_age_s, priority, paused)
      values (${input.name}, ${selection.nicheId}, ${input.every_s ?? null}, ${input.cron ?? null}, ${input.timezone},
        ${input.jitter_s}, ${input.max_age_s}, ${input.priority}, ${input.paused})
      returning id`;
    if (selection.profileIds) await writeProfiles(tx, row!.id, selection.profileIds);
    return readWatch(tx, row!.id);
  });
}

async function readWatch(sql: Sql | Tx, id: string): Promise<WatchRow> {
  if (!isUuid(id)) throw new NotFoundError(`watch ${id} not found`);
  const [row] = await sql<WatchRow[]>`select ${watchColumns(sql)} from watches w where w.id = ${id}`;
  if (!row) throw new NotFoundError(`watch ${id} not found`);
  return row;
}

export function getWatch(sql: Sql, id: string): Promise<WatchRow> {
  return readWatch(sql, id);
}

/** The watch's own profiles in their order; null for a niche watch. */
export async function watchProfileIds(sql: Sql, watch: Pick<WatchRow, 'id' | 'niche_id'>): Promise<string[] | null> {
  if (watch.niche_id !== null) return null;
  const rows = await sql<{ profile_id: string }[]>`
    select profile_id from watch_profiles where watch_id = ${watch.id} order by ordinal`;
  return rows.map((r) => r.profile_id);
}

/** Watches, newest first (the same time-keyed cursor as the batch list). */
export async function listWatches(sql: Sql, options: { limit: number; cursor?: string }): Promise<Page<WatchRow>> {
  const key = decodeTimeKey(options.cursor, isUuid);
  const rows = await sql<Array<WatchRow & { key_time: string }>>`
    select ${watchColumns(sql)}, ${exactTime(sql, 'created_at')} as key_time
    from watches w
    ${key ? sql`where (w.created_at, w.id) < (${key[0]}::text::timestamptz, ${key[1]}::uuid)` : sql``}
    order by w.created_at desc, w.id desc
    limit ${options.limit + 1}`;
  return toTimeKeyedPage(rows, options.limit, (r) => r.id);
}

/** Every watch (the worker's reconciliation of Schedules at start). */
export function allWatches(sql: Sql): Promise<WatchRow[]> {
  return sql<WatchRow[]>`select ${watchColumns(sql)} from watches w order by w.created_at`;
}

/**
 * Changes what the input gives: a selection replaces the other kind (a niche drops the profiles, profiles drop
 * the niche), likewise the cadence. The row is locked while it changes.
 */
export async function updateWatch(sql: Sql, id: string, input: UpdateWatchInput): Promise<WatchRow> {
  oneOf(input, 'niche_id', 'profile_ids', 'selection', true);
  oneOf(input, 'every_s', 'cron', 'cadence', true);
  checkCadence(input);
  const selection = await resolveSelection(sql, input);
  const cadence = input.every_s !== undefined ? { every_s: input.every_s, cron: null } : input.cron !== undefined ? { every_s: null, cron: input.cron } : null;
  return transaction(sql, async (tx) => {
    const [locked] = await tx<{ id: string }[]>`select id from watches where id = ${id} for update`;
    if (!locked) throw new NotFoundError(`watch ${id} not found`);
    const set: Record<string, unknown> = { updated_at: new Date() };
    for (const key of ['name', 'timezone', 'jitter_s', 'max_age_s', 'priority'] as const) {
      if (input[key] !== undefined) set[key] = input[key];
    }
    if (cadence) Object.assign(set, cadence);
    if (selection) set.niche_id = selection.nicheId;
    await tx`update watches set ${tx(set)} where id = ${id}`;
    if (selection) await writeProfiles(tx, id, selection.profileIds ?? []);
    return readWatch(tx, id);
  });
}

export async function setWatchPaused(sql: Sql, id: string, paused: boolean): Promise<WatchRow> {
  if (!isUuid(id)) throw new NotFoundError(`watch ${id} not found`);
  const [row] = await sql<{ id: string }[]>`
    update watches set paused = ${paused}, updated_at = now() where id = ${id} returning id`;
  if (!row) throw new NotFoundError(`watch ${id} not found`);
  return readWatch(sql, id);
}

/** Deletes the row (its batches stay, their watch_id set to null); false when there was none. */
export async function deleteWatch(sql: Sql, id: string): Promise<boolean> {
  if (!isUuid(id)) return false;
  const rows = await sql`delete from watches where id = ${id} returning id`;
  return rows.length > 0;
}

export async function watchExists(sql: Sql, id: string): Promise<boolean> {
  if (!isUuid(id)) return false;
  const [row] = await sql<{ id: string }[]>`select id from watches where id = ${id}`;
  return row !== undefined;
}

/** The latest batch of each watch (by scheduled time), keyed by watch id. */
export async function lastBatchesOfWatches(sql: Sql, watchIds: string[]): Promise<Map<string, BatchRow>> {
  if (watchIds.length === 0) return new Map();
  const rows = await sql<BatchRow[]>`
    select distinct on (watch_id) * from batches
    where watch_id = any(${watchIds}::uuid[])
    order by watch_id, scheduled_at desc`;
  return new Map(rows.map((r) => [r.watch_id!, r]));
}
