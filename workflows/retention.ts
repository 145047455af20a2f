/**
 * `retentionWorkflow`: what the `retention` Schedule starts every RETENTION_INTERVAL_MS. One activity deletes
 * what the retention settings no longer keep (src/repos/retention.ts); the workflow adds the schedule, retries
 * and visibility: its result, the rows removed per table, shows on the run in the Web UI.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import { roundTimeoutMs } from './round-timeout.js';

type Activities = ReturnType<typeof createActivities>;
/** Rows a round removed, per table (the activity's result). */
export type RemovedRows = Awaited<ReturnType<Activities['removeExpiredRows']>>;

export const RETENTION_SCHEDULE_ID = 'retention';

/**
 * The longest a round may take. A round cut off keeps what it deleted (every slice commits on its own), and the
 * next one goes on from there.
 */
const ROUND_TIMEOUT_MS = 60 * 60_000;

export async function retentionWorkflow(): Promise<RemovedRows> {
  const { removeExpiredRows } = proxyActivities<Activities>({
    startToCloseTimeout: roundTimeoutMs(ROUND_TIMEOUT_MS),
    // a heartbeat after every slice; one slice is a statement, which DATABASE_STATEMENT_TIMEOUT_MS (a minute by
    // default) bounds, so a dead worker is noticed after a few minutes and the round goes on elsewhere
    heartbeatTimeout: '5 minutes',
    retry: { initialInterval: '10 seconds', maximumInterval: '1 minute', maximumAttempts: 3 },
  });
  return removeExpiredRows();
}
