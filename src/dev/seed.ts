/**
 * Demo data of `npm run dev`, written so that every run converges to the same state: niches and profiles are
 * upserted by name, sessions are topped up to a fixed count, and a demo batch is created only when none is
 * queued, running or paused. The local forward proxies replace the previous run's (src/dev/pool-proxies.ts).
 */
import { randomBytes } from 'node:crypto';
import type { BatchControl } from '../queue/batch-control.js';
import type { Sql } from '../db/sql.js';
import type { BatchRow } from '../repos/batches.js';
import { ConflictError } from '../repos/errors.js';
import { upsertProfiles } from '../repos/profiles.js';
import { createSession } from '../repos/sessions.js';

export const DEMO_NICHES = ['fashion', 'fitness', 'food', 'travel'] as const;
export const DEMO_BATCH_NAME = 'demo';
/** Proxy user of the local demo proxies: how a later run recognises the rows it replaces. */
export const DEMO_PROXY_USERNAME = 'storycheck-demo';
/** Demo profiles the simulator does not know (every username starting with `missing`): they end as CHECK_FAILED. */
export const DEMO_MISSING_PROFILES = ['missing_demo_1', 'missing_demo_2'] as const;
export const DEMO_SESSIONS = 2;

/** A fresh password for this run's local proxies (never printed; registered as a secret by createProxy). */
export function demoProxyPassword(): string {
  return randomBytes(18).toString('base64url');
}

/** `count` usernames spread evenly over the demo niches: `demo_fashion_0001`, `demo_fitness_0002`, ... */
export function demoUsernames(count: number): Map<string, string[]> {
  const byNiche = new Map<string, string[]>(DEMO_NICHES.map((n) => [n, []]));
  for (let i = 1; i <= count; i++) {
    const niche = DEMO_NICHES[(i - 1) % DEMO_NICHES.length]!;
    byNiche.get(niche)!.push(`demo_${niche}_${String(i).padStart(4, '0')}`);
  }
  return byNiche;
}

export async function seedNiches(sql: Sql): Promise<Map<string, string>> {
  await sql`insert into niches (name) select unnest(${[...DEMO_NICHES]}::text[]) on conflict (name) do nothing`;
  const rows = await sql<{ id: string; name: string }[]>`select id, name from niches where name = any(${[...DEMO_NICHES]}::text[])`;
  return new Map(rows.map((r) => [r.name, r.id]));
}

/** Upserts the demo profiles (and the missing ones, in the first niche); returns their ids in a stable order. */
export async function seedProfiles(sql: Sql, count: number, niches: Map<string, string>): Promise<string[]> {
  if (count <= 0) return [];
  const ids: string[] = [];
  for (const [niche, names] of demoUsernames(count)) {
    const extra = niche === DEMO_NICHES[0] ? [...DEMO_MISSING_PROFILES] : [];
    const { items } = await upsertProfiles(sql, [...names, ...extra], niches.get(niche) ?? null);
    ids.push(...items.map((p) => p.id));
  }
  return ids;
}

/** Tops the valid sessions up to `wanted`, with random tokens, not tied to a proxy. Returns how many were added. */
export async function seedSessions(sql: Sql, wanted = DEMO_SESSIONS): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from sessions where status = 'valid'`;
  const missing = Math.max(0, wanted - (row?.n ?? 0));
  for (let i = 0; i < missing; i++) await createSession(sql, { token: randomBytes(24).toString('hex') });
  return missing;
}

export interface DemoBatch {
  batch: BatchRow;
  created: boolean;
}

/**
 * The demo batch: the one already queued or running, else one left paused (an operator paused it: it stays
 * so, and the banner says how to resume it), or a new one over `profileIds`, moved to the head of the queue.
 * An existing one wakes the queue, in case the Temporal server is a new one.
 */
export async function ensureDemoBatch(sql: Sql, control: BatchControl, profileIds: string[]): Promise<DemoBatch | null> {
  const [existing] = await sql<BatchRow[]>`
    select * from batches where name = ${DEMO_BATCH_NAME} and status in ('queued', 'running', 'paused')
    order by status = 'paused', created_at desc limit 1`;
  if (existing) {
    await control.wakeQueue();
    return { batch: existing, created: false };
  }
  if (profileIds.length === 0) return null;
  let batch = await control.create({ name: DEMO_BATCH_NAME, profileIds });
  try {
    batch = await control.start(batch.id);
  } catch (err) {
    // another batch is running: the demo batch waits its turn in the queue
    if (!(err instanceof ConflictError)) throw err;
  }
  return { batch, created: true };
}
