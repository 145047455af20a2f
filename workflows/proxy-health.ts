/**
 * The pool's self-healing, as workflows: `proxyHealthWorkflow` is what the `proxy-health` Schedule starts
 * every PROXY_HEALTH_INTERVAL_MS (one round of probes, src/health/probe.ts); `validateSessionWorkflow` probes one
 * session on demand for `POST /sessions/:id/validate`. Both are a single activity: the workflow adds the
 * durable timer (the schedule), retries and visibility in the Web UI.
 *
 * A round that brought a proxy or a session back tells the queue runner (`poolChanged`), which passes it on to
 * the running batch: chunks waiting for the end of a proxy's rest are sent again at once.
 */
import { getExternalWorkflowHandle, log, patched, proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import { QUEUE_WORKFLOW_ID } from './batch-queue.js';
import { roundTimeoutMs } from './round-timeout.js';
import { poolChangedSignal } from './signals.js';

type Activities = ReturnType<typeof createActivities>;
/** What one round of probes found (the probe activity's result). */
type ProbeReport = Awaited<ReturnType<Activities['probeHealth']>>;

export const PROXY_HEALTH_SCHEDULE_ID = 'proxy-health';

/** The longest a round may take; the round itself ends well before (src/health/probe.ts, `roundBudgetMs`). */
const ROUND_TIMEOUT_MS = 10 * 60_000;

/** Marks rounds that announce what they recovered: rounds recorded before it did not, and replay as such. */
const ANNOUNCE_RECOVERY_PATCH = 'announce-recovery';

const retry = { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 3 };

const { validateSession } = proxyActivities<Activities>({
  // one probe: a lease wait and one request with the client's own timeout
  startToCloseTimeout: '10 minutes',
  retry,
});

export async function proxyHealthWorkflow(): Promise<ProbeReport> {
  const { probeHealth } = proxyActivities<Activities>({
    startToCloseTimeout: roundTimeoutMs(ROUND_TIMEOUT_MS),
    // the round heartbeats while its probes run: a worker that died is noticed long before the timeout
    heartbeatTimeout: '30 seconds',
    retry,
  });
  const report = await probeHealth();
  if (report.proxiesRecovered + report.sessionsRecovered > 0 && patched(ANNOUNCE_RECOVERY_PATCH)) await announcePoolChange();
  return report;
}

/** Tells the queue runner that the pool changed; nothing runs, or the runner is between runs: nothing to tell. */
async function announcePoolChange(): Promise<void> {
  try {
    await getExternalWorkflowHandle(QUEUE_WORKFLOW_ID).signal(poolChangedSignal);
  } catch (err) {
    log.info('pool change not announced: no queue runner', { reason: err instanceof Error ? err.message : String(err) });
  }
}

export async function validateSessionWorkflow(sessionId: string): Promise<Awaited<ReturnType<Activities['validateSession']>>> {
  return validateSession({ sessionId });
}
