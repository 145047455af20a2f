/**
 * Turns the source of `POST /batches` (exactly one of profile_ids, niche_id, usernames) into the ordered
 * selection `createBatch` takes: profile ids, or the normalised usernames (createBatch creates the missing
 * profiles as it goes, and 100k names are never read back as rows). Every rejection is a ValidationError
 * (400) saying what was wrong, before anything is written; a niche larger than a batch may hold is one.
 */
import type { Sql } from '../db/sql.js';
import { ValidationError } from '../repos/errors.js';
import { nicheExists } from '../repos/niches.js';
import { knownProfileIds, normalizeUsernames, profileIdsOfNiche } from '../repos/profiles.js';
import type { BatchSelection } from '../repos/queue.js';
import { MAX_BATCH_PROFILES } from './schemas.js';

export interface BatchSourceInput {
  profile_ids?: string[] | undefined;
  niche_id?: string | undefined;
  usernames?: string[] | undefined;
}

const SOURCES = ['profile_ids', 'niche_id', 'usernames'] as const;

function empty(source: string): never {
  throw new ValidationError('the selection holds no profiles', { source });
}

export async function resolveBatchSource(sql: Sql, input: BatchSourceInput): Promise<BatchSelection> {
  const given = SOURCES.filter((s) => input[s] !== undefined && input[s] !== null);
  if (given.length !== 1) {
    throw new ValidationError(
      given.length === 0
        ? 'give one source of profiles: profile_ids, niche_id or usernames'
        : `give only one source of profiles, not ${given.join(' and ')}`,
      { sources: given },
    );
  }

  if (input.profile_ids !== undefined) {
    const ids = input.profile_ids;
    if (ids.length === 0) empty('profile_ids');
    const known = await knownProfileIds(sql, ids);
    const unknown = [...new Set(ids.filter((id) => !known.has(id.toLowerCase())))];
    if (unknown.length > 0) {
      const shown = unknown.slice(0, 10).join(', ') + (unknown.length > 10 ? ` and ${unknown.length - 10} more` : '');
      throw new ValidationError(`${unknown.length} unknown profile id${unknown.length === 1 ? '' : 's'}: ${shown}`, {
        unknown_profile_ids: unknown,
      });
    }
    // Postgres returns ids lower-cased; keep the caller's order, in the stored spelling
    return { profileIds: ids.map((id) => id.toLowerCase()) };
  }

  if (input.niche_id !== undefined) {
    const nicheId = input.niche_id;
    if (!(await nicheExists(sql, nicheId))) throw new ValidationError(`niche ${nicheId} does not exist`, { niche_id: nicheId });
    const ids = await profileIdsOfNiche(sql, nicheId);
    if (ids.length === 0) empty('niche_id');
    // the request's schema caps profile_ids and usernames; a niche's size is known only here
    if (ids.length > MAX_BATCH_PROFILES) {
      throw new ValidationError(
        `niche ${nicheId} holds ${ids.length} profiles: a batch holds at most ${MAX_BATCH_PROFILES}`,
        { niche_id: nicheId, niche_profiles: ids.length, max_batch_profiles: MAX_BATCH_PROFILES },
      );
    }
    return { profileIds: ids };
  }

  const usernames = input.usernames ?? [];
  if (usernames.length === 0) empty('usernames');
  // all of them are validated here, before anything is written; createBatch creates the missing profiles
  return { usernames: normalizeUsernames(usernames) };
}
