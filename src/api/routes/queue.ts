/** The queue: GET /queue, POST /queue/pause, POST /queue/resume (through batch-control, Temporal required). */
import { getQueue } from '../../repos/queue.js';
import { toApiQueue } from '../present.js';
import { createRoute, createRouter, errors, json, type RouterDeps } from '../router.js';
import { Queue } from '../schemas.js';

const get = createRoute({
  method: 'get',
  path: '/queue',
  tags: ['queue'],
  summary: 'Whether the queue is held, the running batch and the queued ones in order',
  responses: { 200: json(Queue, 'the queue'), ...errors() },
});

const pause = createRoute({
  method: 'post',
  path: '/queue/pause',
  tags: ['queue'],
  summary: 'Hold the runner: the running batch pauses in place and no upstream request is sent',
  responses: { 202: json(Queue, 'accepted: the queue after the change'), ...errors() },
});

const resume = createRoute({
  method: 'post',
  path: '/queue/resume',
  tags: ['queue'],
  summary: 'Let the runner continue exactly where it stopped',
  responses: { 202: json(Queue, 'accepted: the queue after the change'), ...errors() },
});

export function queueRouter({ sql, batchControl, temporalGate }: Pick<RouterDeps, 'sql' | 'batchControl' | 'temporalGate'>) {
  const setPaused = async (paused: boolean) => {
    await temporalGate.require();
    await batchControl.setQueuePaused(paused);
    return toApiQueue(await getQueue(sql));
  };
  return createRouter()
    .openapi(get, async (c) => c.json(toApiQueue(await getQueue(sql)), 200))
    .openapi(pause, async (c) => c.json(await setPaused(true), 202))
    .openapi(resume, async (c) => c.json(await setPaused(false), 202));
}
