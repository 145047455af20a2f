/**
 * The requests of the `api_load` scenario (bench/api-load.ts): the kinds of load autocannon sends (creates with
 * bodies that differ from request to request, reads of the running batch, transitions of held batches), and the
 * held batches those transitions resume and pause, created over the API before the load.
 */
import { randomBytes } from 'node:crypto';
import type autocannon from 'autocannon';
import { EXISTING_PER_CREATE, FRESH_PER_CREATE, TRANSITION_BATCHES } from './api-load-plan.js';
import type { ApiProcess } from './api-process.js';
import type { LoadKind } from './load-phases.js';
import type { World } from './world.js';

/** The load's requests, built once per scenario: bodies and paths that differ from request to request. */
export function loadKinds(world: World, runningBatchId: string, heldBatchIds: readonly string[]) {
  const tag = randomBytes(3).toString('hex');
  let created = 0;
  const createBody = () => {
    const n = created++;
    const fresh = Array.from({ length: FRESH_PER_CREATE }, (_, i) => `load_${tag}_${n}_${i}`);
    const existing = Array.from({ length: EXISTING_PER_CREATE }, (_, i) => world.usernames[(n * EXISTING_PER_CREATE + i) % world.usernames.length]!);
    return JSON.stringify({ hold: true, usernames: [...fresh, ...existing] });
  };
  let picked = 0;
  return {
    creates: (connections: number): LoadKind => ({
      name: 'creates',
      connections,
      requests: [
        {
          method: 'POST',
          path: '/batches',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req: autocannon.Request) => ({ ...req, body: createBody() }),
        },
      ],
    }),
    reads: (connections: number): LoadKind => ({ name: 'reads', connections, requests: [{ method: 'GET', path: `/batches/${runningBatchId}` }] }),
    // each connection resumes a held batch, then pauses it again; another connection may meet it in between (409)
    transitions: (connections: number): LoadKind => ({
      name: 'transitions',
      connections,
      expected: [409],
      requests: [
        {
          method: 'POST',
          setupRequest: (req: autocannon.Request, context: object) => {
            const id = heldBatchIds[picked++ % heldBatchIds.length]!;
            (context as { id?: string }).id = id;
            return { ...req, path: `/batches/${id}/resume` };
          },
        },
        {
          method: 'POST',
          setupRequest: (req: autocannon.Request, context: object) => ({ ...req, path: `/batches/${(context as { id?: string }).id}/pause` }),
        },
      ],
    }),
  };
}

async function createHeld(api: ApiProcess, apiKey: string, username: string): Promise<string> {
  const res = await fetch(`${api.url}/batches`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ hold: true, usernames: [username], name: 'api_load transitions' }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  const id = res.status === 201 ? (JSON.parse(text) as { id?: string }).id : undefined;
  if (!id) throw new Error(`could not create a held batch before the load: ${res.status} ${text.slice(0, 300)}`);
  return id;
}

export type LoadKinds = ReturnType<typeof loadKinds>;

/** The held batches the transitions resume and pause, each id added to `ids` as soon as it exists. */
export async function createHeldBatches(api: ApiProcess, apiKey: string, ids: string[]): Promise<void> {
  for (let i = 0; i < TRANSITION_BATCHES; i++) ids.push(await createHeld(api, apiKey, `api_load_held_${i}`));
}
