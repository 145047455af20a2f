/** Profiles: POST /profiles (bulk, idempotent per username), GET /profiles, GET /profiles/:id. */
import { getProfile, listProfiles, profilesCursor, upsertProfiles, type ProfileRow } from '../../repos/profiles.js';
import { apiPage, idCursor } from '../cursors.js';
import { EXPORT_ROWS_PER_READ, exportableListRoute, exportResponse, formatParam, requestedFormat } from '../export-response.js';
import { presentPage, toApiCreatedProfiles, toApiProfile } from '../present.js';
import { bodyErrors, createRoute, createRouter, errors, json, type RouterDeps } from '../router.js';
import { CreatedProfiles, CreateProfiles, IdParam, Profile, ProfilePage, ProfileQuery } from '../schemas.js';

const PROFILE_FORMATS = ['csv', 'ndjson'] as const;

const create = createRoute({
  method: 'post',
  path: '/profiles',
  tags: ['profiles'],
  summary: 'Add profiles by username (existing ones are returned, not duplicated)',
  description: 'If any username is invalid, nothing is inserted and details.invalid_usernames lists every invalid one.',
  request: { body: { required: true, content: { 'application/json': { schema: CreateProfiles } } } },
  responses: { 201: json(CreatedProfiles, 'created and existing profiles, in input order'), ...bodyErrors() },
});

const list = exportableListRoute(
  {
    path: '/profiles',
    tags: ['profiles'],
    summary: 'List profiles, optionally by niche, by whether a story is active or by part of the username',
    request: { query: ProfileQuery.extend({ format: formatParam(PROFILE_FORMATS) }) },
    page: ProfilePage,
    errors: [400],
  },
  { holds: 'every profile the filters select', name: 'profiles', formats: PROFILE_FORMATS },
);

const get = createRoute({
  method: 'get',
  path: '/profiles/{id}',
  tags: ['profiles'],
  summary: 'One profile',
  request: { params: IdParam },
  responses: { 200: json(Profile, 'the profile'), ...errors(404) },
});

export function profilesRouter({ sql, logger }: Pick<RouterDeps, 'sql' | 'logger'>) {
  return createRouter()
    .openapi(create, async (c) => {
      const { usernames, niche_id } = c.req.valid('json');
      return c.json(toApiCreatedProfiles(await upsertProfiles(sql, usernames, niche_id ?? null)), 201);
    })
    .openapi(list, async (c) => {
      const { limit, cursor, niche_id, active_story, username, format } = c.req.valid('query');
      const filter = {
        nicheId: niche_id ?? null,
        activeStory: active_story === undefined ? null : active_story === 'true',
        username: username ?? null,
      };
      const file = requestedFormat(c, PROFILE_FORMATS, format);
      if (file !== null) {
        return exportResponse<ProfileRow>(c, {
          sql,
          logger,
          format: file,
          filename: 'profiles',
          columns: Object.keys(Profile.shape),
          rows: (on) => profilesCursor(on, filter, EXPORT_ROWS_PER_READ),
          present: toApiProfile,
        });
      }
      const page = await listProfiles(sql, { limit, cursor: idCursor.toKey(cursor), ...filter });
      return c.json(apiPage(presentPage(page, toApiProfile), idCursor), 200);
    })
    .openapi(get, async (c) => c.json(toApiProfile(await getProfile(sql, c.req.valid('param').id)), 200));
}
