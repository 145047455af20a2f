/**
 * Every worker, when it starts, makes the watches' Schedules match the watches' rows (the rows are the source of
 * truth): a row without a Schedule gets one, every Schedule is brought to its row (a PATCH whose Schedule update
 * failed, a Schedule made by an older worker), and a `watch-*` Schedule without a row (a delete that failed half
 * way) is deleted. One watch that fails does not stop the others; it is logged, and the next start tries again.
 */
import type { Client } from '@temporalio/client';
import type { Sql } from '../db/sql.js';
import type { Logger } from '../logging/logger.js';
import { allWatches, watchExists } from '../repos/watches.js';
import { deleteWatchSchedule, syncWatchSchedule, watchIdOfSchedule } from './schedule.js';

export interface ReconcileReport {
  synced: number;
  orphansDeleted: number;
  failed: number;
}

/** The watch ids of the `watch-*` Schedules on the server. */
async function scheduledWatchIds(client: Client): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const schedule of client.schedule.list()) {
    const watchId = watchIdOfSchedule(schedule.scheduleId);
    if (watchId !== null) ids.add(watchId);
  }
  return ids;
}

export async function ensureWatchSchedules(deps: { client: Client; sql: Sql; taskQueue: string; logger: Logger }): Promise<ReconcileReport> {
  const { client, sql, taskQueue, logger } = deps;
  const report: ReconcileReport = { synced: 0, orphansDeleted: 0, failed: 0 };
  // Schedules first, rows second: a watch created meanwhile has its row before its Schedule, so it is never
  // taken for an orphan
  const scheduled = await scheduledWatchIds(client);
  const watches = await allWatches(sql);
  const rows = new Set(watches.map((w) => w.id));
  for (const watch of watches) {
    try {
      await syncWatchSchedule(client, watch, taskQueue);
      // deleted meanwhile (the API deletes the Schedule first, then the row): no Schedule may outlive it
      if (!(await watchExists(sql, watch.id))) await deleteWatchSchedule(client, watch.id);
      report.synced += 1;
    } catch (err) {
      report.failed += 1;
      logger.warn('could not bring a watch schedule in line with its watch; the next worker start tries again', { err, watch_id: watch.id });
    }
  }
  for (const watchId of scheduled) {
    // listed before the rows were read, and a row comes before its Schedule: one not among the rows is gone
    if (rows.has(watchId)) continue;
    try {
      await deleteWatchSchedule(client, watchId);
      report.orphansDeleted += 1;
    } catch (err) {
      report.failed += 1;
      logger.warn('could not delete the schedule of a deleted watch', { err, watch_id: watchId });
    }
  }
  if (report.synced + report.orphansDeleted + report.failed > 0) logger.info('watch schedules reconciled', { ...report });
  return report;
}
