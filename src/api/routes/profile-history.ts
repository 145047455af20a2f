/** A profile's history: its story timeline (GET /profiles/:id/stories) and its checks across batches (GET /profiles/:id/checks). */
import type { z } from '@hono/zod-openapi';
import { listProfileChecks } from '../../repos/profile-checks.js';
import { listStoryItems } from '../../repos/story-timeline.js';
import { apiPage, checkCursor, storyItemCursor } from '../cursors.js';
import { presentPage, toApiProfileCheck, toApiStoryItem } from '../present.js';
import { createRoute, createRouter, errors, json, type RouterDeps } from '../router.js';
import { IdParam, type pageQuery } from '../schemas.js';
import { ProfileCheckPage, ProfileCheckQuery, StoryItemPage, StoryItemQuery } from '../story-schemas.js';

/** `GET /profiles/{id}/<part>`: a page of the profile's history (404 for an unknown profile). */
function historyRoute<P extends string, Q extends ReturnType<typeof pageQuery>, T extends z.ZodType>(path: P, summary: string, query: Q, page: T) {
  return createRoute({
    method: 'get',
    path,
    tags: ['profiles'],
    summary,
    request: { params: IdParam, query },
    responses: { 200: json(page, 'a page of it, newest first'), ...errors(400, 404) },
  });
}

const stories = historyRoute(
  '/profiles/{id}/stories',
  "The profile's story items, live or ended, newest first (taken_at, then item_pk, descending)",
  StoryItemQuery,
  StoryItemPage,
);

const checks = historyRoute(
  '/profiles/{id}/checks',
  "The profile's finished checks across batches, newest first (checked_at, then batch_id, descending)",
  ProfileCheckQuery,
  ProfileCheckPage,
);

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
