/**
 * Profiles and batches made through the API for the API test files, and the runner's part (claiming, checking,
 * completing) written straight to Postgres, so that these tests depend only on the queue transitions.
 */
import { expect } from 'vitest';
import { claimNextBatch, completeBatch } from '../../../src/repos/queue.js';
import { insertLog } from '../../../src/repos/logs.js';
import type { ApiUnderTest } from '../../helpers/api.js';

export { freePort as closedPort } from '../../../src/local/ports.js';

/** Proxy passwords and session tokens the files send; the sweep of each file looks for them. */
export const SECRETS = ['proxy-pass-A1b2C3', 'proxy-pass-D4e5F6', 'proxy-pass-G7h8I9', 'session-token-J1k2L3', 'session-token-M4n5O6'];

export function batchFixtures(api: ApiUnderTest) {
  async function addProfiles(usernames: string[], nicheId?: string): Promise<string[]> {
    const res = await api.call('POST', '/profiles', { usernames, ...(nicheId ? { niche_id: nicheId } : {}) });
    expect(res.status, res.text).toBe(201);
    return res.body.items.map((p: { id: string }) => p.id);
  }

  async function newBatch(body: Record<string, unknown>): Promise<{ id: string; status: string; position: number | null }> {
    const res = await api.call('POST', '/batches', body);
    expect(res.status, res.text).toBe(201);
    return res.body;
  }

  async function queuedIds(): Promise<string[]> {
    const res = await api.call('GET', '/queue');
    expect(res.status).toBe(200);
    res.body.queued.forEach((b: { position: number }, i: number) => expect(b.position).toBe(i + 1));
    return res.body.queued.map((b: { id: string }) => b.id);
  }

  /**
   * Records verified results as the checker would (row completed, batch counters, a STORY_CHECK_SUCCESS log,
   * in one transaction).
   */
  async function markChecked(batchId: string, results: Array<{ profileId: string; hasStory: boolean }>): Promise<void> {
    await api.db.sql.begin(async (tx) => {
      for (const r of results) {
        await tx`
          update batch_profiles set status = 'completed', has_story = ${r.hasStory}, story_count = ${r.hasStory ? 1 : 0},
            attempts = 1, duration_ms = 5, checked_at = now(), source = 'upstream'
          where batch_id = ${batchId} and profile_id = ${r.profileId}`;
        await insertLog(tx, {
          batchId,
          profileId: r.profileId,
          level: 'INFO',
          eventType: 'STORY_CHECK_SUCCESS',
          message: r.hasStory ? 'has an active story' : 'has no active story',
          details: { has_story: r.hasStory },
          durationMs: 5,
        });
      }
      const stories = results.filter((r) => r.hasStory).length;
      await tx`
        update batches set successful_checks = successful_checks + ${results.length}, stories_found = stories_found + ${stories}
        where id = ${batchId}`;
    });
  }

  /** Makes the batch done the way the runner would: claim, a verified result per profile, complete. */
  async function finishBatch(batchId: string, profileIds: string[]): Promise<void> {
    const claimed = await claimNextBatch(api.db.sql);
    expect(claimed?.id).toBe(batchId);
    await markChecked(batchId, profileIds.map((profileId) => ({ profileId, hasStory: true })));
    const done = await completeBatch(api.db.sql, batchId);
    expect(done.status).toBe('done');
  }

  return { addProfiles, newBatch, queuedIds, markChecked, finishBatch };
}

export async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work;
  return { value, ms: Date.now() - started };
}
