/**
 * A batch's whole life through HTTP, against the real stack in-process: the API on a port, a worker on a
 * Temporal dev server (with the BatchId/BatchStatus search attributes), a database of the file's own, the
 * upstream simulator and two forward proxies with Basic auth. Everything is observed from outside: the API's
 * answers, its event stream, the simulator's truth about each username, and Temporal's visibility.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningApi } from '../../src/api/server.js';
import { startServedStack, type ServedStack } from '../helpers/served-stack.js';
import { PROXY_PASSWORD, usernames, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const API_KEY = 'e2e-api-key-4b7d1f';

// API bodies are whatever the server returns; each test asserts the fields it relies on
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

let served: ServedStack | undefined;
let env: TestWorkflowEnvironment;
let stack: Stack;
let api: RunningApi;
/** Every response body of the file, searched for secrets at the end. */
const seen: string[] = [];

beforeAll(async () => {
  served = await startServedStack({
    prefix: 'e2e',
    proxies: 2,
    // a little latency and small chunks, so the batch takes long enough for progress to be seen moving
    sim: { latencyMs: 40, jitterMs: 20 },
    env: { API_KEY, TEMPORAL_SEARCH_ATTRIBUTES: 'true', CHECK_CHUNK_SIZE: '5', BATCH_CONCURRENCY: '4' },
  });
  ({ env, stack, api } = served);
});

afterAll(() => served?.close());

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(api.url + path, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  seen.push(text);
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function get(path: string): Promise<Json> {
  const res = await call('GET', path);
  expect(res.status, `GET ${path}`).toBe(200);
  return res.body;
}

interface SseEvent {
  event: string;
  id?: string;
  data: Json;
}

/** Reads a whole Server-Sent Events stream (until the server closes it), from the first log on. */
async function readEvents(path: string, timeoutMs = 60_000): Promise<SseEvent[]> {
  const res = await fetch(api.url + path, {
    headers: { authorization: `Bearer ${API_KEY}`, 'last-event-id': '0' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const text = await res.text();
  seen.push(text);
  const events: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    const fields: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      if (colon > 0) fields[line.slice(0, colon)] = (fields[line.slice(0, colon)] ?? '') + line.slice(colon + 1).replace(/^ /, '');
    }
    if (fields.data !== undefined) events.push({ event: fields.event ?? 'message', id: fields.id, data: JSON.parse(fields.data) });
  }
  return events;
}

interface Truth {
  exists: boolean;
  story?: 'live' | 'expired' | 'none';
}

async function truthOf(username: string): Promise<Truth> {
  const res = await fetch(`${stack.sim.url}/__sim/profiles/${username}`);
  return (await res.json()) as Truth;
}

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

describe('a batch from POST /batches to done (e2e)', () => {
  const present = usernames(40, 'life');
  const missing = `missing_${present[0]!.split('_')[1]}`;
  const all = [...present, missing];
  const truth = new Map<string, Truth>();
  let batchId = '';
  let profileIdByName = new Map<string, string>();

  it('runs to done with exact counters, results, statistics, logs, a live event stream and a findable workflow', async () => {
    for (const u of all) truth.set(u, await truthOf(u));
    expect(truth.get(missing)!.exists).toBe(false);
    expect(present.every((u) => truth.get(u)!.exists)).toBe(true);
    const live = new Set(present.filter((u) => truth.get(u)!.story === 'live'));

    // create: the usernames become profiles, the batch is queued first in line
    const created = await call('POST', '/batches', { name: 'e2e lifecycle', usernames: all });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'e2e lifecycle', status: 'queued', position: 1, total_profiles: all.length, completed_profiles: 0 });
    batchId = created.body.id;

    // the event stream, from the first log on (Last-Event-ID: 0), until the server closes it at the end
    const events = await readEvents(`/batches/${batchId}/events`);
    const progress = events.filter((e) => e.event === 'progress').map((e) => e.data);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i].completed_profiles).toBeGreaterThanOrEqual(progress[i - 1].completed_profiles);
    }
    expect(progress[0].completed_profiles).toBeLessThan(all.length);
    const last = events.at(-1)!;
    expect(last.event).toBe('end');
    expect(last.data).toMatchObject({ id: batchId, status: 'done', completed_profiles: all.length, completion_rate: 1 });
    const streamedLogs = events.filter((e) => e.event === 'log');
    const seqs = streamedLogs.map((e) => Number(e.id));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);

    // the batch: exact counters
    const batch = await get(`/batches/${batchId}`);
    const storiesFound = live.size;
    expect(batch).toMatchObject({
      id: batchId,
      status: 'done',
      position: null,
      total_profiles: all.length,
      completed_profiles: all.length,
      successful_checks: present.length,
      failed_checks: 1,
      stories_found: storiesFound,
      completion_rate: 1,
      error: null,
      workflow_id: `batch-${batchId}`,
    });
    expect(batch.completed_profiles).toBe(batch.successful_checks + batch.failed_checks);
    expect(Date.parse(batch.started_at)).toBeLessThanOrEqual(Date.parse(batch.completed_at));
    expect((await get('/batches?status=done')).items.map((b: Json) => b.id)).toContain(batchId);
    expect((await get('/queue')).running).toBeNull();

    // per-profile results agree with the simulator's truth
    const proxyIds = new Set((await get('/proxies')).items.map((p: Json) => p.id));
    const results = (await get(`/batches/${batchId}/profiles?limit=1000`)).items as Json[];
    expect(results).toHaveLength(all.length);
    profileIdByName = new Map(results.map((r) => [r.username, r.profile_id]));
    for (const r of results) {
      if (r.username === missing) {
        expect(r).toMatchObject({ status: 'failed', has_story: null });
        expect(r.error).toMatch(/profile_not_found/);
      } else {
        expect(r, r.username).toMatchObject({ status: 'completed', has_story: live.has(r.username), error: null });
        expect(r.attempts).toBeGreaterThanOrEqual(1);
        expect(proxyIds.has(r.proxy_id)).toBe(true);
        expect(r.checked_at).not.toBeNull();
        if (live.has(r.username)) expect(r.story_count).toBeGreaterThanOrEqual(1);
      }
    }
    const failed = (await get(`/batches/${batchId}/profiles?status=failed`)).items as Json[];
    expect(failed.map((r) => r.username)).toEqual([missing]);

    // profile statistics
    const ours = new Set(all);
    const profiles = ((await get('/profiles?limit=1000')).items as Json[]).filter((p) => ours.has(p.username));
    expect(profiles).toHaveLength(all.length);
    for (const p of profiles) {
      if (p.username === missing) {
        // a failed check changes none of the statistics
        expect(p).toMatchObject({ total_checks: 0, total_detections: 0, active_story: false, last_checked_at: null, last_story_detected: null });
        continue;
      }
      const hasStory = live.has(p.username);
      expect(p, p.username).toMatchObject({ total_checks: 1, total_detections: hasStory ? 1 : 0, active_story: hasStory });
      expect(p.last_checked_at).not.toBeNull();
      expect(p.last_story_detected === null).toBe(!hasStory);
    }
    const activeIds = new Set(((await get('/profiles?active_story=true&limit=1000')).items as Json[]).map((p) => p.username));
    expect(present.filter((u) => activeIds.has(u)).sort()).toEqual([...live].sort());

    // logs, oldest first
    const logs = (await get(`/batches/${batchId}/logs?limit=1000`)).items as Json[];
    const counts = countBy(logs, (l) => l.event_type);
    expect(counts).toMatchObject({ BATCH_QUEUED: 1, BATCH_STARTED: 1, STORY_CHECK_SUCCESS: present.length, CHECK_FAILED: 1, BATCH_COMPLETED: 1 });
    expect(logs[0].event_type).toBe('BATCH_QUEUED');
    expect(logs.at(-1).event_type).toBe('BATCH_COMPLETED');
    expect(logs.at(-1).details).toMatchObject({
      total_profiles: all.length,
      completed_profiles: all.length,
      successful_checks: present.length,
      failed_checks: 1,
      stories_found: storiesFound,
    });
    const nameById = new Map([...profileIdByName].map(([name, id]) => [id, name]));
    for (const l of logs.filter((x) => x.event_type === 'STORY_CHECK_SUCCESS')) {
      expect(l.details.has_story).toBe(live.has(nameById.get(l.profile_id)!));
    }
    const checkFailed = (await get(`/batches/${batchId}/logs?event_type=CHECK_FAILED`)).items as Json[];
    expect(checkFailed).toHaveLength(1);
    expect(checkFailed[0]).toMatchObject({ level: 'ERROR', profile_id: profileIdByName.get(missing) });
    expect(checkFailed[0].details.error_type).toBe('profile_not_found');
    expect(((await get(`/batches/${batchId}/logs?level=ERROR`)).items as Json[]).map((l) => l.event_type)).toContain('CHECK_FAILED');
    // the stream delivered exactly the stored logs
    expect(streamedLogs.map((e) => e.data.id)).toEqual(logs.map((l) => l.id));

    // Temporal: the batch's workflow is found by its search attributes
    const query = `BatchId = '${batchId}' AND BatchStatus = 'done'`;
    const found = await waitFor(
      async () => {
        const list = [];
        for await (const wf of env.client.workflow.list({ query })) list.push(wf);
        return list.length > 0 && list;
      },
      { what: 'the workflow in Temporal visibility', timeoutMs: 30_000, stepMs: 200 },
    );
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ workflowId: `batch-${batchId}`, type: 'batchWorkflow' });
    expect(found[0]!.status.name).toBe('COMPLETED');
  });

  it('re-checks the same profiles by id: statistics accumulate and no username is looked up again', async () => {
    expect(batchId).not.toBe('');
    const ids = [...profileIdByName.entries()].filter(([name]) => name !== missing).map(([, id]) => id);
    const lookupsBefore = present.map((u) => stack.sim.stats.lookupsByUsername[u] ?? 0);
    expect(lookupsBefore.every((n) => n === 1)).toBe(true);

    const created = await call('POST', '/batches', { name: 'e2e recheck', profile_ids: ids, priority: 5 });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const done = await waitFor(
      async () => {
        const b = await get(`/batches/${id}`);
        return b.status === 'done' && b;
      },
      { what: 'the re-check to finish', timeoutMs: 30_000, stepMs: 200 },
    );
    expect(done).toMatchObject({ total_profiles: ids.length, successful_checks: ids.length, failed_checks: 0, completion_rate: 1 });
    // user ids are cached on the profiles: only stories requests this time
    expect(present.map((u) => stack.sim.stats.lookupsByUsername[u] ?? 0)).toEqual(lookupsBefore);

    const ours = new Set(present);
    const profiles = ((await get('/profiles?limit=1000')).items as Json[]).filter((p) => ours.has(p.username));
    for (const p of profiles) {
      const hasStory = truth.get(p.username)!.story === 'live';
      expect(p, p.username).toMatchObject({ total_checks: 2, total_detections: hasStory ? 2 : 0, active_story: hasStory });
    }
  });

  it('never shows a proxy password in any answer', () => {
    expect(seen.length).toBeGreaterThan(10);
    for (const body of seen) expect(body).not.toContain(PROXY_PASSWORD);
  });
});
