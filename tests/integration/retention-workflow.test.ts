/**
 * The retention round as the schedule runs it: retentionWorkflow on Temporal's time-skipping server, with a
 * worker of the product (its real activities, real Postgres). The round deletes what the worker's settings no
 * longer keep, returns the rows removed per table as the workflow's result, and logs them; a round with nothing
 * to remove logs at debug.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { onLogLine } from '../../src/logging/logger.js';
import { createBatch } from '../../src/repos/queue.js';
import { retentionWorkflow } from '../../workflows/retention.js';
import { newProfiles } from '../helpers/batches.js';
import type { Stack } from '../helpers/stack.js';
import { withTimeSkippingStackWorker } from '../helpers/stack-worker.js';
import { uniqueIds } from '../helpers/temporal.js';
import { timeSkippingServer } from '../helpers/workflow.js';

type Line = Record<string, unknown> & { level: string; msg: string };

const server = timeSkippingServer();
let lines: Line[] = [];

beforeAll(() => {
  onLogLine((line) => lines.push(JSON.parse(line) as Line));
});

beforeEach(() => {
  lines = [];
});

/** An old and a young row in every table the round looks at; an old finished batch of two profiles. */
async function seed(stack: Stack): Promise<void> {
  const { sql } = stack.db;
  // an old log of no batch, then the batch's own (its creation, now)
  await sql`
    insert into batch_logs (level, event_type, message, created_at)
    values ('INFO', 'BATCH_QUEUED', 'an old line', now() - interval '31 days')`;
  const [profile, ...batchProfiles] = await newProfiles(sql, 3);
  const batch = await createBatch(sql, { profileIds: batchProfiles, hold: true });
  await sql`update batches set status = 'done', completed_at = now() - interval '8 days' where id = ${batch.id}`;
  for (const [pk, days] of [['old', 91], ['young', 1]] as const) {
    await sql`
      insert into story_events (type, profile_id, item_pk, occurred_at, created_at)
      values ('story.posted', ${profile!}, ${pk}, now(), now() - ${days} * interval '1 day')`;
    await sql`
      insert into story_items (profile_id, item_pk, taken_at, expiring_at, first_seen_at, last_seen_at, ended_at)
      values (${profile!}, ${pk}, now() - interval '200 days', now() - interval '150 days', now() - interval '200 days',
              now() - interval '200 days', now() - ${days} * interval '1 day')`;
  }
}

describe('retentionWorkflow (time-skipping, real activities)', () => {
  it('runs the retention activity and returns what it removed, per table; the next round finds nothing', async () => {
    await withTimeSkippingStackWorker(server, { prefix: 'retention', env: { BATCH_RETENTION_DAYS: '7' } }, async (stack, taskQueue) => {
      await seed(stack);
      const { workflowId } = uniqueIds('retention-round');

      const removed = await server.env.client.workflow.execute(retentionWorkflow, { taskQueue, workflowId, workflowExecutionTimeout: 600_000 });

      expect(removed).toEqual({ story_events: 1, story_items: 1, batch_logs: 2, batches: 1, batch_profiles: 2, webhook_deliveries: 0 });
      const left = await stack.db.sql<{ events: number; items: number; logs: number; batches: number }[]>`
        select (select count(*) from story_events)::int as events, (select count(*) from story_items)::int as items,
               (select count(*) from batch_logs)::int as logs, (select count(*) from batches)::int as batches`;
      expect(left).toEqual([{ events: 1, items: 1, logs: 0, batches: 0 }]);
      const logged = lines.find((l) => l.msg === 'retention round removed expired rows');
      expect(logged).toMatchObject({ level: 'info', removed, workflow_id: workflowId, batch_retention_days: 7 });

      // the activity heartbeats, within a timeout below the run's own
      const history = await server.env.client.workflow.getHandle(workflowId).fetchHistory();
      const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes)!.activityTaskScheduledEventAttributes!;
      expect(scheduled.activityType?.name).toBe('removeExpiredRows');
      expect(Number(scheduled.heartbeatTimeout!.seconds)).toBeGreaterThan(0);
      expect(Number(scheduled.startToCloseTimeout!.seconds)).toBeLessThan(600);

      const again = await server.env.client.workflow.execute(retentionWorkflow, { taskQueue, workflowId: `${workflowId}-again` });
      expect(again).toEqual({ story_events: 0, story_items: 0, batch_logs: 0, batches: 0, batch_profiles: 0, webhook_deliveries: 0 });
      expect(lines.find((l) => l.msg === 'retention round found nothing to remove')).toMatchObject({ level: 'debug', workflow_id: `${workflowId}-again` });
    });
  });
});
