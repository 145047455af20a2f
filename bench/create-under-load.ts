/**
 * A large batch created over HTTP while a second client keeps changing the queue: how long the create takes,
 * and how long each queue transition of the other client waited meanwhile (the create must never hold the
 * queue up). Used by the `scale_100k` scenario (bench/scale.ts).
 *
 * The second client cycles through every kind of transition against the same API: the queue paused and
 * resumed, a small held batch resumed, moved to the head, paused again, and a fresh held batch cancelled.
 * Only transitions that start before the create is answered count.
 */
import { performance } from 'node:perf_hooks';

export interface ApiClient {
  url: string;
  apiKey?: string | undefined;
}

export interface CreateUnderLoad {
  batchId: string;
  status: string;
  totalProfiles: number;
  createS: number;
  createBodyMb: number;
  transitions: number;
  maxTransitionMs: number;
  /** Transitions answered with anything but 2xx (method, path, status). */
  transitionErrors: string[];
}

interface Answer {
  status: number;
  body: { id?: string; status?: string; total_profiles?: number; error?: { message?: string } } | null;
}

async function send(api: ApiClient, method: string, path: string, body?: string): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (api.apiKey) headers.authorization = `Bearer ${api.apiKey}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${api.url}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Answer['body']) : null };
}

async function createHeld(api: ApiClient, username: string): Promise<string> {
  const res = await send(api, 'POST', '/batches', JSON.stringify({ usernames: [username], hold: true, name: 'transition probe' }));
  if (res.status !== 201 || !res.body?.id) throw new Error(`could not create a probe batch: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

/** Creates a batch of `usernames` while another client changes the queue, and times both. */
export async function createUnderLoad(api: ApiClient, usernames: readonly string[], name: string): Promise<CreateUnderLoad> {
  const probe = await createHeld(api, 'scale_probe_batch');
  let creating = true;
  const latencies: number[] = [];
  const errors: string[] = [];
  let cycle = 0;

  const timed = async (method: string, path: string, body?: string): Promise<Answer> => {
    const started = performance.now();
    const res = await send(api, method, path, body);
    if (creating) latencies.push(performance.now() - started);
    if (res.status >= 300) errors.push(`${method} ${path}: ${res.status} ${res.body?.error?.message ?? ''}`.trim());
    return res;
  };

  const transitions = (async () => {
    while (creating) {
      await timed('POST', '/queue/pause');
      await timed('POST', '/queue/resume');
      await timed('POST', `/batches/${probe}/resume`);
      await timed('POST', `/batches/${probe}/start`);
      await timed('POST', `/batches/${probe}/pause`);
      const spare = await createHeld(api, `scale_probe_${cycle++}`);
      await timed('POST', `/batches/${spare}/cancel`);
    }
  })();

  // the transitions run before, during and after the request is sent and parsed
  await new Promise((resolve) => setTimeout(resolve, 200));
  const body = JSON.stringify({ name, usernames });
  const started = performance.now();
  let created: Answer;
  try {
    created = await send(api, 'POST', '/batches', body);
  } finally {
    creating = false;
    await transitions.catch((err: unknown) => errors.push(`transition client failed: ${(err as Error).message}`));
  }
  const createS = (performance.now() - started) / 1000;
  if (created.status !== 201 || !created.body?.id) throw new Error(`the create was answered ${created.status}: ${JSON.stringify(created.body)}`);
  // the probe batch leaves the queue for good, so that the large batch is the next one to run
  await send(api, 'POST', `/batches/${probe}/cancel`);
  await send(api, 'POST', '/queue/resume');
  return {
    batchId: created.body.id,
    status: created.body.status ?? 'unknown',
    totalProfiles: created.body.total_profiles ?? 0,
    createS,
    createBodyMb: Buffer.byteLength(body) / 2 ** 20,
    transitions: latencies.length,
    maxTransitionMs: latencies.length ? Math.max(...latencies) : 0,
    transitionErrors: errors,
  };
}
