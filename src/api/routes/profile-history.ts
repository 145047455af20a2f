/** A profile's history: its story timeline (GET /profiles/:id/stories) and its checks across batches (GET /profiles/:id/checks). */
import { listProfileChecks } from '../../repos/profile-checks.js';
import { listStoryItems } from '../../repos/story-timeline.js';
import { apiPage, checkCursor, storyItemCursor } from '../cursors.js';
import { presentPage, toApiProfileCheck, toApiStoryItem } from '../present.js';
import { createRoute, createRouter, errors, json, type RouterDeps } from '../router.js';
import { IdParam } from '../schemas.js';
import { ProfileCheckPage, ProfileCheckQuery, StoryItemPage, StoryItemQuery } from '../story-schemas.js';

const stories = createRoute({
  method: 'get',
  path: '/profiles/{id}/stories',
  tags: ['profiles'],
  summary: "The profile's story items, live or ended, newest first (taken_at, then item_pk, descending)",
  request: { params: IdParam, query: StoryItemQuery },
  responses: { 200: json(StoryItemPage, 'a page of story items'), ...errors(400, 404) },
});

const checks = createRoute({
  method: 'get',
  path: '/profiles/{id}/checks',
  tags: ['profiles'],
  summary: "The profile's finished checks across batches, newest first (checked_at, then batch_id, descending)",
  request: { params: IdParam, query: ProfileCheckQuery },
  responses: { 200: json(ProfileCheckPage, 'a page of checks'), ...errors(400, 404) },
});

export function profileHistoryRouter({ sql }: Pick<RouterDeps, 'sql'>) {
  return createRouter()
    .openapi(stories, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const page = await listStoryItems(sql, c.req.valid('param').id, { limit, cursor: storyItemCursor.toKey(cursor) });
      return c.json(apiPage(presentPage(page, toApiStoryItem), storyItemCursor), 200);
    })
    .openapi(checks, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const page = await listProfileChecks(sql, c.req.valid('param').id, { limit, cursor: checkCursor.toKey(cursor) });
      return c.json(apiPage(presentPage(page, toApiProfileCheck), checkCursor), 200);
    });
}
