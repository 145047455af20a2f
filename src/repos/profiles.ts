/**
 * Profiles: the accounts whose stories are checked (docs/api.md). Usernames are normalised once, here, so that
 * the API, the batch sources and the checker agree on what "the same profile" means.
 */
import { inTx, type Sql } from '../db/sql.js';
import { isUuid, NotFoundError, ValidationError } from './errors.js';
import type { Queryable } from './logs.js';
import { decodeCursor, InvalidCursorError, toPage, type Page } from './pagination.js';

export interface ProfileRow {
  id: string;
  username: string;
  niche_id: string | null;
  upstream_user_id: string | null;
  is_private: boolean | null;
  active_story: boolean;
  last_story_detected: Date | null;
  last_checked_at: Date | null;
  total_checks: number;
  total_detections: number;
  created_at: Date;
}

export interface UpsertProfilesResult {
  created: number;
  existing: number;
  items: ProfileRow[];
}

/** What String.prototype.trim removes, spelled out so that the pattern reads the same in any regex dialect. */
const TRIMMED = String.raw`\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff`;

/**
 * A username as accepted on input (docs/api.md): up to 32 surrounding whitespace characters, an optional leading
 * "@", then 1 to 30 of a-z, A-Z, 0-9, "." and "_". Only ASCII letters are lower-cased: a character that
 * lower-cases into ASCII (the Kelvin sign) is not a username. The OpenAPI document states this same pattern.
 */
export const USERNAME_INPUT_PATTERN = `^[${TRIMMED}]{0,32}@?[A-Za-z0-9._]{1,30}[${TRIMMED}]{0,32}$`;
const USERNAME_INPUT = new RegExp(USERNAME_INPUT_PATTERN);

/** `"  @Some.User "` → `"some.user"`; null when the input is not a valid username. */
export function normalizeUsername(raw: unknown): string | null {
  if (typeof raw !== 'string' || !USERNAME_INPUT.test(raw)) return null;
  const name = raw.trim();
  return (name.startsWith('@') ? name.slice(1) : name).toLowerCase();
}

/** Runs `fn` in a transaction: a new one on the pool, or the caller's own when already inside one. */
async function inTransaction<T>(sql: Queryable, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  if ('begin' in sql) return inTx(sql, fn);
  return fn(sql);
}

/** Checks every raw username and returns the distinct normalised ones in first-seen order. */
function validateUsernames(raw: readonly unknown[]): string[] {
  const invalid: string[] = [];
  const seen = new Set<string>();
  for (const value of raw) {
    const name = normalizeUsername(value);
    if (name === null) invalid.push(typeof value === 'string' ? value : String(value));
    else seen.add(name);
  }
  if (invalid.length > 0) {
    const shown = invalid.slice(0, 10).map((u) => JSON.stringify(u)).join(', ');
    const more = invalid.length > 10 ? ` and ${invalid.length - 10} more` : '';
    throw new ValidationError(
      `${invalid.length} invalid username${invalid.length === 1 ? '' : 's'}: ${shown}${more} ` +
        '(usernames are 1 to 30 characters of a-z, 0-9, "." and "_", after trimming and dropping a leading "@")',
      { invalid_usernames: invalid },
    );
  }
  return [...seen];
}

const PROFILE_COLUMNS = (sql: Queryable) =>
  sql`id, username, niche_id, upstream_user_id, is_private, active_story, last_story_detected, last_checked_at,
      total_checks, total_detections, created_at`;

/**
 * Creates the profiles that do not exist yet. Validation happens before anything is written: one invalid
 * username rejects the whole call with a ValidationError naming all of them. Duplicates collapse. With a
 * niche, existing profiles are moved into it as well (the caller asked for these profiles in that niche).
 * Items come back in input order. Works on the pool or inside the caller's transaction.
 */
export async function upsertProfiles(
  sql: Queryable,
  usernames: readonly unknown[],
  nicheId?: string | null,
): Promise<UpsertProfilesResult> {
  const names = validateUsernames(usernames);
  if (nicheId != null && !isUuid(nicheId)) {
    throw new ValidationError(`niche ${nicheId} does not exist`, { niche_id: nicheId });
  }
  if (names.length === 0) return { created: 0, existing: 0, items: [] };
  const niche = nicheId ?? null;
  // Sorted so that concurrent calls lock overlapping usernames in the same order and cannot deadlock.
  const sorted = [...names].sort();

  const { created, rows } = await inTransaction(sql, async (tx) => {
    if (niche !== null) {
      const [found] = await tx<{ id: string }[]>`select id from niches where id = ${niche} for key share`;
      if (!found) throw new ValidationError(`niche ${niche} does not exist`, { niche_id: niche });
    }
    // One statement whatever the count: the usernames travel as a single array parameter.
    const inserted = await tx<{ id: string }[]>`
      insert into profiles (username, niche_id)
      select u, ${niche}::uuid from unnest(${sorted}::text[]) as t(u) order by u
      on conflict (username) do nothing
      returning id`;
    if (niche !== null) {
      await tx`
        update profiles set niche_id = ${niche}
        where username = any(${sorted}::text[]) and niche_id is distinct from ${niche}::uuid`;
    }
    // A separate statement (fresh snapshot) also sees rows a concurrent call inserted while we waited on them.
    const all = await tx<ProfileRow[]>`select ${PROFILE_COLUMNS(tx)} from profiles where username = any(${sorted}::text[])`;
    return { created: inserted.length, rows: all };
  });

  const byName = new Map(rows.map((r) => [r.username, r]));
  const items: ProfileRow[] = [];
  for (const name of names) {
    const row = byName.get(name);
    if (row) items.push(row);
  }
  return { created, existing: names.length - created, items };
}

/**
 * The distinct normalised usernames of `raw`, in first-seen order; a ValidationError naming every invalid one
 * (as `upsertProfiles` rejects them). Nothing is written.
 */
export function normalizeUsernames(raw: readonly unknown[]): string[] {
  return validateUsernames(raw);
}

/**
 * Creates the profiles of these normalised usernames that do not exist yet, in one statement, without reading
 * any row back (a batch of 100k needs the profiles to exist, not 100k rows in memory). Sorted, so that
 * concurrent calls lock overlapping usernames in the same order and cannot deadlock. Creating a profile is
 * harmless on its own, so this runs in a short transaction of its own (or the caller's).
 */
export async function createMissingProfiles(sql: Queryable, names: readonly string[]): Promise<void> {
  const sorted = [...names].sort();
  await sql`
    insert into profiles (username)
    select u from unnest(${sorted}::text[]) as t(u) order by u
    on conflict (username) do nothing`;
}

export async function getProfile(sql: Queryable, id: string): Promise<ProfileRow> {
  if (!isUuid(id)) throw new NotFoundError(`profile ${id} not found`);
  const [row] = await sql<ProfileRow[]>`select ${PROFILE_COLUMNS(sql)} from profiles where id = ${id}`;
  if (!row) throw new NotFoundError(`profile ${id} not found`);
  return row;
}

/** A NotFoundError unless the profile exists (the lists of a profile's history answer 404 for an unknown one). */
export async function assertProfileExists(sql: Queryable, id: string): Promise<void> {
  const [row] = isUuid(id) ? await sql`select 1 from profiles where id = ${id}` : [];
  if (!row) throw new NotFoundError(`profile ${id} not found`);
}

/** Which of these profile ids exist, as Postgres spells them (lower case). The ids must be UUIDs. */
export async function knownProfileIds(sql: Queryable, ids: readonly string[]): Promise<Set<string>> {
  const rows = await sql<{ id: string }[]>`select id from profiles where id = any(${ids as string[]}::uuid[])`;
  return new Set(rows.map((r) => r.id));
}

/**
 * The ids of a niche's profiles, alphabetical by username: deterministic (profiles added in one call share
 * created_at) and easy to follow in a batch's results.
 */
export async function profileIdsOfNiche(sql: Queryable, nicheId: string): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`select id from profiles where niche_id = ${nicheId} order by username`;
  return rows.map((r) => r.id);
}

export interface ListProfilesOptions {
  nicheId?: string | null;
  activeStory?: boolean | null;
  /** Profiles whose username contains this text, given as a username is (`"@Some.Us"` finds `some.user`). */
  username?: string | null;
  limit: number;
  cursor?: string | null;
}

/** What a username filter that could not be part of any username is told. */
export const USERNAME_PART_MESSAGE = 'username must be part of a username: 1 to 30 of a-z, 0-9, "." and "_"';

/** `text` as a LIKE pattern matching itself only: `_` is a literal underscore, not any character. */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The filters of a list as SQL conditions (each one `and ...`), checked first: a bad one is a ValidationError. */
function profileConditions(sql: Queryable, options: Omit<ListProfilesOptions, 'limit' | 'cursor'>) {
  const { nicheId, activeStory } = options;
  if (nicheId != null && !isUuid(nicheId)) throw new ValidationError('niche_id must be a UUID', { niche_id: nicheId });
  const username = options.username == null ? null : normalizeUsername(options.username);
  if (options.username != null && username === null) {
    throw new ValidationError(USERNAME_PART_MESSAGE, { username: options.username });
  }
  return sql`
    ${nicheId != null ? sql`and niche_id = ${nicheId}` : sql``}
    ${activeStory != null ? sql`and active_story = ${activeStory}` : sql``}
    ${username !== null ? sql`and username like ${'%' + likeLiteral(username) + '%'} escape '\\'` : sql``}`;
}

/**
 * Profiles paged by id (the indexes `(niche_id, id)` and `(active_story, id)` serve both filters). The
 * username filter is a plain scan of the rows the others leave: stored usernames are already normalised
 * (lower case), so the normalised text is compared as it is.
 */
export async function listProfiles(sql: Sql, options: ListProfilesOptions): Promise<Page<ProfileRow>> {
  const limit = Math.max(1, Math.min(1000, Math.trunc(options.limit)));
  const key = decodeCursor(options.cursor);
  const after = key?.[0];
  if (key && !isUuid(after)) throw new InvalidCursorError('cursor is not valid');
  const rows = await sql<ProfileRow[]>`
    select ${PROFILE_COLUMNS(sql)} from profiles
    where true ${profileConditions(sql, options)}
      ${after !== undefined ? sql`and id > ${after as string}` : sql``}
    order by id
    limit ${limit + 1}`;
  return toPage(rows, limit, (r) => [r.id]);
}

/** Every profile that passes the filters, by id, read `rowsPerRead` at a time from one cursor. */
export function profilesCursor(sql: Queryable, options: Omit<ListProfilesOptions, 'limit' | 'cursor'>, rowsPerRead: number): AsyncIterable<ProfileRow[]> {
  return sql<ProfileRow[]>`
    select ${PROFILE_COLUMNS(sql)} from profiles
    where true ${profileConditions(sql, options)}
    order by id`.cursor(rowsPerRead);
}

/** Caches the upstream user id (it never changes) so the username lookup happens once per profile. */
export async function setUpstreamUserId(
  sql: Queryable,
  profileId: string,
  userId: string,
  isPrivate: boolean | null,
): Promise<void> {
  if (!isUuid(profileId)) throw new NotFoundError(`profile ${profileId} not found`);
  const [row] = await sql<{ id: string }[]>`
    update profiles set upstream_user_id = ${userId}, is_private = ${isPrivate}
    where id = ${profileId}
    returning id`;
  if (!row) throw new NotFoundError(`profile ${profileId} not found`);
}
