/**
 * The pool's self-healing, as workflows: `proxyHealthWorkflow` is what the `proxy-health` Schedule starts
 * every PROXY_HEALTH_INTERVAL_MS (one round of probes, src/health.ts); `validateSessionWorkflow` probes one
 * session on demand for `POST /sessions/:id/validate`. Both are a single activity: the workflow adds the
 * durable timer (the schedule), retries and visibility in the Web UI.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';

type Activities = ReturnType<typeof createActivities>;

export const PROXY_HEALTH_SCHEDULE_ID = 'proxy-health';

const { probeHealth, validateSession } = proxyActivities<Activities>({
  // every probe is one request with the client's own timeout; a round over many proxies takes a while
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 3 },
});

export async function proxyHealthWorkflow(): Promise<Awaited<ReturnType<Activities['probeHealth']>>> {
  return probeHealth();
}

export async function validateSessionWorkflow(sessionId: string): Promise<Awaited<ReturnType<Activities['validateSession']>>> {
  return validateSession({ sessionId });
}
