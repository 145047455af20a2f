/**
 * Watches: POST/GET /watches, GET/PATCH/DELETE /watches/:id, POST /watches/:id/pause|resume|trigger. Changes go
 * through watch-control (the row first, then its Schedule), and are refused with 503 while Temporal is
 * unreachable, before anything changes. Reads show the Schedule's next and recent ticks when Temporal answers,
 * and none otherwise.
 */
import type { Sql } from '../../db/sql.js';
import { getWatch, lastBatchesOfWatches, listWatches, watchProfileIds, type WatchRow } from '../../repos/watches.js';
import { createWatchControl, type WatchControl } from '../../watches/watch-control.js';
import { apiPage, batchCursor } from '../cursors.js';
import { toApiWatch, type ApiWatch } from '../present-watch.js';
import { bodyErrors, createRoute, createRouter, errors, json, type RouterDeps } from '../router.js';
import { IdParam } from '../schemas.js';
import { CreateWatch, UpdateWatch, Watch, WatchPage, WatchQuery } from '../watch-schemas.js';

/** Schedules described at once for a page of watches. */
const DESCRIBE_CONCURRENCY = 8;

const create = createRoute({
  method: 'post',
  path: '/watches',
  tags: ['watches'],
  summary: 'Create a watch: a Temporal Schedule whose ticks create and queue one batch of the selection each',
  description:
    'Exactly one selection (niche_id or profile_ids) and one cadence (every_s or cron). An unknown niche or profile, ' +
    'a cron expression or time zone that is not accepted: 400. The watch exists only once its Schedule does (503 otherwise).',
  request: { body: { required: true, content: { 'application/json': { schema: CreateWatch } } } },
  responses: { 201: json(Watch, 'created, with its Schedule'), ...bodyErrors() },
});

const list = createRoute({
  method: 'get',
  path: '/watches',
  tags: ['watches'],
  summary: 'List watches, newest first',
  request: { query: WatchQuery },
  responses: { 200: json(WatchPage, 'a page of watches'), ...errors(400) },
});

const get = createRoute({
  method: 'get',
  path: '/watches/{id}',
  tags: ['watches'],
  summary: 'One watch, with its profiles, its last batch and its next and recent ticks',
  request: { params: IdParam },
  responses: { 200: json(Watch, 'the watch'), ...errors(404) },
});

const update = createRoute({
  method: 'patch',
  path: '/watches/{id}',
  tags: ['watches'],
  summary: "Change a watch's name, selection, cadence, priority or max_age_s; its Schedule follows",
  request: { params: IdParam, body: { required: true, content: { 'application/json': { schema: UpdateWatch } } } },
  responses: { 200: json(Watch, 'the watch as changed'), ...bodyErrors(404) },
});

const remove = createRoute({
  method: 'delete',
  path: '/watches/{id}',
  tags: ['watches'],
  summary: 'Delete a watch and its Schedule; its batches stay (their watch_id becomes null)',
  request: { params: IdParam },
  responses: { 204: { description: 'deleted' }, ...errors(404) },
});

const pause = createRoute({
  method: 'post',
  path: '/watches/{id}/pause',
  tags: ['watches'],
  summary: 'Pause a watch: its Schedule takes no tick until it is resumed (batches already queued go on)',
  request: { params: IdParam },
  responses: { 200: json(Watch, 'the paused watch'), ...errors(404) },
});

const resume = createRoute({
  method: 'post',
  path: '/watches/{id}/resume',
  tags: ['watches'],
  summary: 'Resume a paused watch',
  request: { params: IdParam },
  responses: { 200: json(Watch, 'the watch, running'), ...errors(404) },
});

const trigger = createRoute({
  method: 'post',
  path: '/watches/{id}/trigger',
  tags: ['watches'],
  summary: 'A tick now, through the Schedule',
  description:
    'The tick is skipped, as any, while the previous tick runs or its batch is unfinished (last_tick says so). ' +
    '409 watch_paused for a paused watch.',
  request: { params: IdParam },
  responses: { 202: json(Watch, 'accepted: the tick is on its way'), ...errors(404, 409) },
});

/** Runs `fn` over `items`, at most `limit` at once, in order. */
async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  });
  await Promise.all(lanes);
  return results;
}

/** Watches as the API shows them; with their profiles when `withProfiles` (one watch read alone). */
async function present(sql: Sql, control: WatchControl, rows: WatchRow[], withProfiles: boolean): Promise<ApiWatch[]> {
  const lastBatches = await lastBatchesOfWatches(sql, rows.map((r) => r.id));
  return mapLimited(rows, DESCRIBE_CONCURRENCY, async (row) =>
    toApiWatch(row, {
      profileIds: withProfiles ? await watchProfileIds(sql, row) : null,
      lastBatch: lastBatches.get(row.id) ?? null,
      schedule: await control.describe(row.id),
    }),
  );
}

export function watchesRouter({ sql, temporal, config, logger, temporalGate }: Pick<RouterDeps, 'sql' | 'temporal' | 'config' | 'logger' | 'temporalGate'>) {
  const control = createWatchControl({ sql, temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, logger });
  const one = async (row: WatchRow) => (await present(sql, control, [row], true))[0]!;

  return createRouter()
    .openapi(create, async (c) => {
      const body = c.req.valid('json');
      await temporalGate.require();
      const row = await control.create({
        ...body,
        timezone: body.timezone ?? 'UTC',
        jitter_s: body.jitter_s ?? 0,
        max_age_s: body.max_age_s ?? config.CHECK_MAX_AGE_S,
        priority: body.priority ?? 0,
        paused: body.paused ?? false,
      });
      return c.json(await one(row), 201);
    })
    .openapi(list, async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const page = await listWatches(sql, { limit, cursor: batchCursor.toKey(cursor) });
      const items = await present(sql, control, page.items, false);
      return c.json(apiPage({ items, next_cursor: page.next_cursor }, batchCursor), 200);
    })
    .openapi(get, async (c) => c.json(await one(await getWatch(sql, c.req.valid('param').id)), 200))
    .openapi(update, async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      await getWatch(sql, id); // 404 before the gate's 503
      await temporalGate.require();
      return c.json(await one(await control.update(id, body)), 200);
    })
    .openapi(remove, async (c) => {
      const { id } = c.req.valid('param');
      await getWatch(sql, id);
      await temporalGate.require();
      await control.remove(id);
      return c.body(null, 204);
    })
    .openapi(pause, async (c) => {
      const { id } = c.req.valid('param');
      await getWatch(sql, id);
      await temporalGate.require();
      return c.json(await one(await control.setPaused(id, true)), 200);
    })
    .openapi(resume, async (c) => {
      const { id } = c.req.valid('param');
      await getWatch(sql, id);
      await temporalGate.require();
      return c.json(await one(await control.setPaused(id, false)), 200);
    })
    .openapi(trigger, async (c) => {
      const { id } = c.req.valid('param');
      await getWatch(sql, id);
      await temporalGate.require();
      return c.json(await one(await control.trigger(id)), 202);
    });
}
