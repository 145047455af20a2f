/**
 * Batches: creation from one source, lists, the four transitions, and each batch's profiles, logs and live
 * events. Transitions go through batch-control (Postgres first, then the workflows are signalled); they
 * are refused with 503 while Temporal is unreachable, before anything changes.
 */
import type { Context } from 'hono';
import { assertBatchExists, batchProfilesCursor, listBatchProfiles, type BatchProfileRow } from '../../repos/batch-profiles.js';
import { getBatch, listBatches } from '../../repos/batches.js';
import { listLogs } from '../../repos/logs.js';
import { TRANSITIONS, type OperatorAction } from '../../repos/queue.js';
import { streamBatchEvents } from '../batch-events.js';
import { createBatchFeeds } from '../batch-feed.js';
import { resolveBatchSource } from '../batch-source.js';
import { EXPORT_ROWS_PER_READ, exportableListRoute, exportResponse, formatParam, requestedFormat } from '../export-response.js';
import { apiPage, batchCursor, positionCursor, sequenceCursor } from '../cursors.js';
import { presentPage, toApiBatch, toApiBatchProfile, toApiLog } from '../present.js';
import { bodyErrors, createRoute, createRouter, errors, eventStream, json, type RouterDeps } from '../router.js';
import {
  Batch,
  BatchPage,
  BatchProfile,
  BatchProfilePage,
  BatchProfileQuery,
  BatchQuery,
  CreateBatch,
  IdParam,
  lastEventIdHeader,
  LogPage,
  LogQuery,
} from '../schemas.js';

const BATCH_PROFILE_FORMATS = ['csv', 'ndjson'] as const;

const create = createRoute({
  method: 'post',
  path: '/batches',
  tags: ['batches'],
  summary: 'Create a batch from exactly one source: profile_ids, niche_id or usernames',
  description:
    'Queued at a position by priority (higher first), or paused outside the queue with hold. ' +
    'Unknown ids, an unknown niche, invalid usernames, no source, several sources or an empty selection: 400.',
  request: { body: { required: true, content: { 'application/json': { schema: CreateBatch } } } },
  responses: { 201: json(Batch, 'created: queued with a position, or paused with hold'), ...bodyErrors() },
});

const list = createRoute({
  method: 'get',
  path: '/batches',
  tags: ['batches'],
  summary: 'List batches, newest first',
  request: { query: BatchQuery },
  responses: { 200: json(BatchPage, 'a page of batches'), ...errors(400) },
});

const get = createRoute({
  method: 'get',
  path: '/batches/{id}',
  tags: ['batches'],
  summary: 'One batch',
  request: { params: IdParam },
  responses: { 200: json(Batch, 'the batch'), ...errors(404) },
});

/** What each transition does. Which statuses allow it is TRANSITIONS' alone (read below, and as each batch's `actions`). */
const EFFECTS: Record<OperatorAction, string> = {
  start: 'Move the batch to the head of the queue (409 batch_running while another batch runs)',
  pause: 'Take the batch out of the queue; a running batch stops taking new profiles',
  resume: 'Put the batch back at the end of the queue; only profiles not yet completed are checked again',
  cancel: 'Cancel the batch for good; a running batch stops as for pause',
};

/** `a`, `b` or `c` */
function statusList(statuses: readonly string[]): string {
  const quoted = statuses.map((s) => `\`${s}\``);
  return quoted.length < 2 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
}

/** The legal statuses of a transition in words, written from TRANSITIONS. */
function allowedFrom(action: OperatorAction): string {
  const { from, done } = TRANSITIONS[action];
  const unchanged = done.length > 0 ? ` A batch that is ${statusList(done)} is returned unchanged.` : '';
  return `Allowed when the batch is ${statusList(from)} (its \`actions\` list it).${unchanged} 409 otherwise.`;
}

const transitionRoute = (action: OperatorAction) =>
  createRoute({
    method: 'post',
    path: `/batches/{id}/${action}`,
    tags: ['batches'],
    summary: EFFECTS[action],
    description: allowedFrom(action),
    request: { params: IdParam },
    responses: { 202: json(Batch, 'accepted: the batch after the transition'), ...errors(404, 409) },
  });

const profiles = exportableListRoute({
  path: '/batches/{id}/profiles',
  tags: ['batches'],
  summary: "The batch's profiles and their results, in batch order",
  request: { params: IdParam, query: BatchProfileQuery.extend({ format: formatParam(BATCH_PROFILE_FORMATS) }) },
  page: BatchProfilePage,
  errors: [400, 404],
}, { holds: 'every profile of the batch that the filters select', name: 'batch-<id>-profiles', formats: BATCH_PROFILE_FORMATS });

const logs = createRoute({
  method: 'get',
  path: '/batches/{id}/logs',
  tags: ['batches'],
  summary: "The batch's log, oldest first",
  request: { params: IdParam, query: LogQuery },
  responses: { 200: json(LogPage, 'a page of log entries'), ...errors(400, 404) },
});

const events = createRoute({
  method: 'get',
  path: '/batches/{id}/events',
  tags: ['batches'],
  summary: 'Live progress as Server-Sent Events',
  description:
    'Events: `progress` (a Batch) at once and whenever it changes; `log` (a log entry in commit order, id = its ' +
    'sequence, so Last-Event-ID resumes exactly after it); `end` (the Batch) when it is done, cancelled, error or ' +
    'paused, then the stream closes.',
  request: {
    params: IdParam,
    headers: lastEventIdHeader('a log event'),
  },
  responses: { 200: eventStream(), ...errors(400, 404) },
});

/** A batch's profiles (filtered as the list is) as a file, streamed; an unknown batch is a plain 404 first. */
async function exportBatchProfiles(
  c: Context,
  { sql, logger }: Pick<RouterDeps, 'sql' | 'logger'>,
  id: string,
  filter: Parameters<typeof batchProfilesCursor>[2],
  format: (typeof BATCH_PROFILE_FORMATS)[number],
): Promise<Response> {
  await assertBatchExists(sql, id);
  return exportResponse<BatchProfileRow>(c, {
    sql,
    logger,
    format,
    filename: `batch-${id.toLowerCase()}-profiles`,
    columns: Object.keys(BatchProfile.shape),
    rows: (on) => batchProfilesCursor(on, id, filter, EXPORT_ROWS_PER_READ),
    present: toApiBatchProfile,
  });
}

export function batchesRouter(deps: RouterDeps) {
  const { sql, backgroundSql, config, logger, batchControl, temporalGate, eventsIntervalMs, shutdown } = deps;

  // one reader per followed batch, shared by all of this app's event streams
  // event streams read on the background pool: however many follow a batch, requests keep their connections
  const feeds = createBatchFeeds({ sql: backgroundSql, intervalMs: eventsIntervalMs, shutdown });

  const transition = (action: OperatorAction) => async (id: string) => {
    await temporalGate.require();
    return toApiBatch(await batchControl[action](id));
  };

  const start = transition('start');
  const pause = transition('pause');
  const resume = transition('resume');
  const cancel = transition('cancel');

  return createRouter()
    .openapi(create, async (c) => {
      const body = c.req.valid('json');
      // a held batch wakes nobody, so it does not need Temporal
      if (!body.hold) await temporalGate.require();
      const selection = await resolveBatchSource(sql, body);
      const row = await batchControl.create({
        name: body.name || null,
        priority: body.priority ?? 0,
        hold: body.hold ?? false,
        maxAgeS: body.max_age_s ?? config.CHECK_MAX_AGE_S,
        ...selection,
      });
      return c.json(toApiBatch(row), 201);
    })
    .openapi(list, async (c) => {
      const { limit, cursor, status, watch_id } = c.req.valid('query');
      const page = await listBatches(sql, { limit, cursor: batchCursor.toKey(cursor), status, watchId: watch_id?.toLowerCase() });
      return c.json(apiPage(presentPage(page, toApiBatch), batchCursor), 200);
    })
    .openapi(get, async (c) => c.json(toApiBatch(await getBatch(sql, c.req.valid('param').id)), 200))
    .openapi(transitionRoute('start'), async (c) => c.json(await start(c.req.valid('param').id), 202))
    .openapi(transitionRoute('pause'), async (c) => c.json(await pause(c.req.valid('param').id), 202))
    .openapi(transitionRoute('resume'), async (c) => c.json(await resume(c.req.valid('param').id), 202))
    .openapi(transitionRoute('cancel'), async (c) => c.json(await cancel(c.req.valid('param').id), 202))
    .openapi(profiles, async (c) => {
      const { id } = c.req.valid('param');
      const { limit, cursor, status, has_story, format } = c.req.valid('query');
      const hasStory = has_story === undefined ? null : has_story === 'true';
      const file = requestedFormat(c, BATCH_PROFILE_FORMATS, format);
      if (file !== null) return exportBatchProfiles(c, { sql, logger }, id, { status, hasStory }, file);
      const page = await listBatchProfiles(sql, id, { limit, cursor: positionCursor.toKey(cursor), status, hasStory });
      return c.json(apiPage(presentPage(page, toApiBatchProfile), positionCursor), 200);
    })
    .openapi(logs, async (c) => {
      const { id } = c.req.valid('param');
      const { limit, cursor, level, event_type } = c.req.valid('query');
      const page = await listLogs(sql, id, { limit, cursor: sequenceCursor.toKey(cursor), level, eventType: event_type });
      return c.json(apiPage(presentPage(page, toApiLog), sequenceCursor), 200);
    })
    .openapi(events, async (c) => {
      const { id } = c.req.valid('param');
      const lastEventId = c.req.valid('header')['last-event-id'];
      const batch = toApiBatch(await getBatch(sql, id)); // 404 as a plain JSON error, before the stream starts
      return streamBatchEvents(c, {
        sql: backgroundSql,
        feeds,
        logger,
        batch,
        afterSeq: lastEventId === undefined ? undefined : Number(lastEventId),
        shutdown,
      });
    });
}
