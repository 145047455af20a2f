/**
 * Profiles and batches written straight through the repositories (no stack, no worker), for tests of the queue's
 * and the checker's SQL on a database of their own.
 */
import { expect } from 'vitest';
import type { Sql } from '../../src/db/sql.js';
import type { BatchRow } from '../../src/repos/batches.js';
import { upsertProfiles } from '../../src/repos/profiles.js';
import { claimNextBatch, createBatch } from '../../src/repos/queue.js';
import { usernames } from './stack.js';

/** `n` new profiles, their usernames unique to this call; their ids. */
export async function newProfiles(sql: Sql, n: number, prefix = 'user'): Promise<string[]> {
  const { items } = await upsertProfiles(sql, usernames(n, prefix));
  return items.map((p) => p.id);
}

/** A queued batch of two new profiles. */
export async function newBatch(sql: Sql): Promise<BatchRow> {
  return createBatch(sql, { profileIds: await newProfiles(sql, 2) });
}

/** A batch of the given profiles (two new ones by default) claimed by the runner; nothing else may be queued or running. */
export async function runningBatch(sql: Sql, profileIds?: string[]): Promise<BatchRow> {
  const batch = profileIds ? await createBatch(sql, { profileIds }) : await newBatch(sql);
  const claimed = await claimNextBatch(sql);
  expect(claimed?.id).toBe(batch.id);
  return claimed!;
}
