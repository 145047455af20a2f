/**
 * Probes of proxies out of use for a reason that can pass (see src/health/probe.ts): one request through each,
 * and the proxy back in use when the source answered it.
 */
import { transaction, type Sql } from '../db/sql.js';
import { registerSecret } from '../logging/redact.js';
import { insertLog } from '../repos/logs.js';
import { UpstreamFailure } from '../upstream/errors.js';
import type { StoryClient } from '../upstream/story-client.js';
import { askSource, errorText, runningBatchId } from './probe-request.js';

export interface ProbedProxy {
  id: string;
  url: string;
  username: string | null;
  password: string | null;
  disabled_reason: string | null;
}

/** Whether a failed probe still proved that the request went through the proxy to the source and back. */
function reachedTheSource(err: unknown): boolean {
  if (!(err instanceof UpstreamFailure)) return false;
  if (err.kind === 'proxy_failure' || err.kind === 'upstream_unreachable') return false;
  // a timeout or a reset carries no HTTP status: nothing came back
  return err.status !== undefined;
}

/**
 * Why a probe of `proxy` that failed with `err` leaves it out of use, or null when the failure still proves
 * it works: any answer from the source, except a 403 for a proxy whose address the source refused.
 */
function stillOut(proxy: ProbedProxy, err: unknown): string | null {
  if (!reachedTheSource(err)) return errorText(err);
  if (proxy.disabled_reason === 'blocked' && (err as UpstreamFailure).status === 403) return errorText(err);
  return null;
}

/** Proxies out of use for a reason a probe can clear, the longest unchecked first. */
export function proxiesDue(sql: Sql): Promise<ProbedProxy[]> {
  return sql<ProbedProxy[]>`
    select id, url, username, password, disabled_reason from proxies
    where (status = 'disabled' and disabled_reason in ('failures', 'blocked'))
       or (status = 'cooling_down' and rest_reason = 'upstream_unreachable')
    order by last_checked_at asc nulls first, id`;
}

/** Brings a proxy that answered back into use, unless it changed meanwhile (an operator's disable stays). */
async function recoverProxy(sql: Sql, p: ProbedProxy): Promise<boolean> {
  const batchId = await runningBatchId(sql);
  return transaction(sql, async (tx) => {
    // the same condition again: an operator may have disabled it meanwhile, which must stay so. The answer
    // was not a refusal: the refusals counted against its address start over
    const [row] = await tx<{ url: string; was: string; reason: string | null }[]>`
      with prev as (
        select id, status, coalesce(disabled_reason, rest_reason) as reason from proxies
        where id = ${p.id}
          and ((status = 'disabled' and disabled_reason in ('failures', 'blocked'))
            or (status = 'cooling_down' and rest_reason = 'upstream_unreachable'))
        for update
      )
      update proxies x set status = 'active', disabled_reason = null, rest_reason = null, rate_limited_until = null,
        consecutive_failures = 0, blocked_strikes = 0, last_error = null, last_checked_at = now()
      from prev where x.id = prev.id
      returning x.url, prev.status as was, prev.reason`;
    if (!row) return false;
    await insertLog(tx, {
      batchId,
      proxyId: p.id,
      level: 'INFO',
      eventType: 'PROXY_RECOVERED',
      message: `proxy ${row.url} answers again and is back in use`,
      details: { previous_status: row.was, previous_reason: row.reason },
    });
    return true;
  });
}

/**
 * One probe of one proxy, bounded by `timeoutMs` and by the round (`round`). A probe the round cut off is
 * left as it was (not checked), so the next round takes it first.
 */
export async function probeProxy(
  sql: Sql,
  client: StoryClient,
  p: ProbedProxy,
  timeoutMs: number,
  round: AbortSignal,
): Promise<'recovered' | 'still out' | 'cut off'> {
  registerSecret(p.password);
  const ownTimeout = AbortSignal.timeout(timeoutMs);
  let error: string | null = null;
  try {
    const target = { proxyId: p.id, proxyUrl: p.url, proxyUsername: p.username, proxyPassword: p.password };
    await askSource(client, target, AbortSignal.any([ownTimeout, round]));
  } catch (err) {
    if (round.aborted && !ownTimeout.aborted) return 'cut off';
    error = ownTimeout.aborted ? `no answer within ${timeoutMs} ms` : stillOut(p, err);
  }
  if (error !== null) {
    await sql`update proxies set last_checked_at = now(), last_error = ${error} where id = ${p.id}`;
    return 'still out';
  }
  return (await recoverProxy(sql, p)) ? 'recovered' : 'still out';
}
