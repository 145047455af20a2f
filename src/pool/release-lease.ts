/**
 * Handing a slot back with its request's outcome (see src/pool/lease-types.ts, "Outcomes on release" and "Pacing"):
 * the effect on the proxy, its pacing, its batch logs, and the session's side, in one transaction.
 */
import { transaction, type Sql } from '../db/sql.js';
import type { ProxyStatus, RestReason } from '../enums.js';
import { insertLog, type Queryable } from '../repos/logs.js';
import type { Lease, ReleasedRow, ReleaseOutcome, ReleaseRowOptions } from './lease-types.js';
import { learnedRatePerS, newPacingState, observe, sendIntervalMs, type PacingEvent, type PacingState } from './pacing.js';
import { interval } from './slot-queries.js';

/** Blocked answers in a row (no other answer between) at which a proxy is disabled rather than rested again. */
const BLOCKED_STRIKES_TO_DISABLE = 2;

interface LockedProxy {
  id: string;
  url: string;
  status: ProxyStatus;
  disabled_reason: string | null;
  consecutive_failures: number;
  blocked_strikes: number;
  rate_limited_until: Date | null;
  pacing: PacingState | null;
}

type LockedSlot = LockedProxy & { slot_session_id: string | null };

/** What every batch log of one release carries. */
type LogBase = { batchId: string | null; profileId: string | null; proxyId: string };

/** Ends the slot with the outcome's effect on the proxy (and session), and its batch logs, in one transaction. */
export async function releaseLease(
  sql: Sql,
  l: Lease,
  outcome: ReleaseOutcome,
  options: ReleaseRowOptions,
): Promise<{ row: ReleasedRow | undefined; disabled: boolean; sessionInvalidated: boolean }> {
  const logBase = { batchId: options.batchId, profileId: options.profileId, proxyId: l.proxyId };
  // a deadlock with a concurrent reclaim or take is retried from the start (the slot row is locked first, as reclaim does)
  return transaction(sql, async (tx) => {
    const locked = await endSlot(tx, l);
    if (!locked) return { row: undefined, disabled: false, sessionInvalidated: false };
    const e = proxyEffect(locked, l, outcome, options);
    const updated = await applyEffect(tx, locked.id, e, outcome, options.sentAt);
    if (!updated) return { row: undefined, disabled: false, sessionInvalidated: false };
    const row: ReleasedRow = { ...updated, old_status: locked.status, pacing_note: e.note };

    await logRest(tx, locked, row, outcome, options.now, logBase);
    const disabled = await logDisabled(tx, locked, row, outcome, options.maxConsecutiveFailures, logBase);
    const sessionInvalidated = await settleSession(tx, locked.slot_session_id ?? l.sessionId, outcome, options, logBase);
    return { row, disabled, sessionInvalidated };
  });
}

/**
 * Deletes the slot, if it is still the holder's, and locks its proxy's row: undefined when the slot is gone.
 * Only the slot's holder releases it, once: a slot that expired and was reclaimed is gone.
 */
async function endSlot(tx: Queryable, l: Lease): Promise<LockedSlot | undefined> {
  // the slot row first (as reclaim takes them), then its proxy's, locked for the pacing computed from it
  const [locked] = await tx<LockedSlot[]>`
    with gone as (
      delete from proxy_slots where id = ${l.slotId} and holder = ${l.holder} returning proxy_id, session_id
    )
    select p.id, p.url, p.status, p.disabled_reason, p.consecutive_failures, p.blocked_strikes, p.rate_limited_until,
      p.pacing, gone.session_id as slot_session_id
    from proxies p join gone on p.id = gone.proxy_id
    for update of p`;
  return locked;
}

type ProxyEffect = ReturnType<typeof proxyEffect>;

/** Writes the outcome's effect on the proxy row, and lowers its in-flight count. */
async function applyEffect(
  tx: Queryable,
  proxyId: string,
  e: ProxyEffect,
  outcome: ReleaseOutcome,
  sentAt: Date | null,
): Promise<Omit<ReleasedRow, 'old_status' | 'pacing_note'> | undefined> {
  const [updated] = await tx<Omit<ReleasedRow, 'old_status' | 'pacing_note'>[]>`
    update proxies p set
      in_flight = greatest(0, p.in_flight - 1),
      next_free_at = ${sentAt ? tx`greatest(p.next_free_at, ${sentAt}::timestamptz + ${interval(tx, e.intervalMs)})` : tx`p.next_free_at`},
      status = ${e.status},
      disabled_reason = ${e.status === 'disabled' ? e.disabledReason : null},
      rate_limited_until = ${e.restUntil},
      rest_reason = ${e.restReason ?? tx`p.rest_reason`},
      consecutive_failures = ${e.consecutiveFailures},
      blocked_strikes = ${e.blockedStrikes},
      pacing = ${e.pacing ? tx.json(e.pacing as never) : null},
      pace_interval_ms = ${e.intervalMs},
      learned_rate_per_s = ${e.learnedRate},
      ${outcome.kind === 'success' ? tx`success_count = p.success_count + 1,` : tx``}
      ${e.failed ? tx`failure_count = p.failure_count + 1,` : tx``}
      last_error = ${e.lastError ?? tx`p.last_error`}
    where p.id = ${proxyId}
    returning p.id, p.url, p.status, p.consecutive_failures, p.rate_limited_until, p.learned_rate_per_s`;
  return updated;
}

/** PROXY_COOLDOWN, when this release started (or lengthened) a rest. */
async function logRest(tx: Queryable, locked: LockedProxy, row: ReleasedRow, outcome: ReleaseOutcome, now: Date, logBase: LogBase): Promise<void> {
  const rested = row.rate_limited_until && (!locked.rate_limited_until || row.rate_limited_until > locked.rate_limited_until);
  if (rested && (outcome.kind === 'rate_limited' || outcome.kind === 'upstream_unreachable' || outcome.kind === 'address_blocked')) {
    const restMs = row.rate_limited_until!.getTime() - now.getTime();
    const why = { rate_limited: 'was rate limited', upstream_unreachable: 'cannot reach the upstream', address_blocked: 'was refused by the source (403)' }[outcome.kind];
    await insertLog(tx, {
      ...logBase,
      level: 'WARNING',
      eventType: 'PROXY_COOLDOWN',
      message: `proxy ${row.url} ${why} and rests for ${Math.round(restMs / 1000)} s`,
      details: {
        reason: outcome.kind,
        retry_after_ms: restMs,
        until: row.rate_limited_until!.toISOString(),
        from_retry_after: outcome.kind === 'rate_limited' && outcome.retryAfterMs !== undefined,
        ...(outcome.kind === 'rate_limited' ? { learned_rate_per_s: row.learned_rate_per_s, pacing: row.pacing_note } : {}),
      },
    });
  }
}

/** PROXY_DISABLED, when this release disabled the proxy; returns whether it did. */
async function logDisabled(
  tx: Queryable,
  locked: LockedProxy,
  row: ReleasedRow,
  outcome: ReleaseOutcome,
  maxConsecutiveFailures: number,
  logBase: LogBase,
): Promise<boolean> {
  if (row.status !== 'disabled' || locked.status === 'disabled' || (outcome.kind !== 'proxy_failure' && outcome.kind !== 'address_blocked')) {
    return false;
  }
  await insertLog(tx, {
    ...logBase,
    level: 'ERROR',
    eventType: 'PROXY_DISABLED',
    message:
      outcome.kind === 'proxy_failure'
        ? `proxy ${row.url} disabled after ${row.consecutive_failures} consecutive failures`
        : `proxy ${row.url} disabled: the source refuses its address (403 again after a rest)`,
    details:
      outcome.kind === 'proxy_failure'
        ? { consecutive_failures: row.consecutive_failures, max_consecutive_failures: maxConsecutiveFailures, error: outcome.message }
        : { reason: 'blocked', error: outcome.message },
  });
  return true;
}

/** The pacing event of an answered request: success, a 429, or any other answer (null: never sent, nothing to learn). */
function pacingEventOf(outcome: ReleaseOutcome, sentAt: Date | null): PacingEvent | null {
  if (!sentAt) return null;
  const sentAtMs = sentAt.getTime();
  if (outcome.kind === 'success') return { kind: 'success', sentAtMs };
  if (outcome.kind === 'rate_limited') return { kind: 'rate_limited', sentAtMs, ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}) };
  // a proxy fault or an unreachable upstream never reached the source: the source's pace saw nothing
  if (outcome.kind === 'proxy_failure' || outcome.kind === 'upstream_unreachable') return null;
  return { kind: 'other', sentAtMs };
}

/** What an outcome does to the proxy row, computed from the locked row: the columns to set. */
function proxyEffect(row: LockedProxy, l: Lease, outcome: ReleaseOutcome, options: ReleaseRowOptions) {
  const { now, cooldownMs, lastError, maxConsecutiveFailures, sentAt } = options;
  const nowMs = now.getTime();
  // an answer without its send time (a caller that did not say) left at the slot's send time; a neutral one may never have left
  const event = pacingEventOf(outcome, sentAt ?? (outcome.kind === 'neutral' ? null : l.sendAt));
  const decision = event ? observe(row.pacing ?? newPacingState(), event, nowMs, options.pacing) : null;
  let status = row.status;
  let disabledReason = row.disabled_reason;
  let restUntil = row.rate_limited_until;
  let restReason: RestReason | null = null;
  let consecutiveFailures = row.consecutive_failures;
  let blockedStrikes = row.blocked_strikes;
  let failed = false;
  const rest = (untilMs: number, reason: RestReason) => {
    if (restUntil && restUntil.getTime() >= untilMs) return;
    restUntil = new Date(untilMs);
    restReason = reason;
    if (status !== 'disabled') status = 'cooling_down';
  };
  const disable = (reason: 'failures' | 'blocked') => {
    if (status === 'disabled') return;
    status = 'disabled';
    disabledReason = reason;
  };
  if (decision?.restUntilMs) rest(decision.restUntilMs, 'rate_limited');
  switch (outcome.kind) {
    case 'success':
      consecutiveFailures = 0;
      blockedStrikes = 0;
      break;
    case 'upstream_unreachable':
      rest(nowMs + cooldownMs, 'upstream_unreachable');
      break;
    case 'address_blocked':
      blockedStrikes++;
      if (blockedStrikes >= BLOCKED_STRIKES_TO_DISABLE) disable('blocked');
      else rest(nowMs + cooldownMs, 'blocked');
      break;
    case 'proxy_failure':
      failed = true;
      consecutiveFailures++;
      if (consecutiveFailures >= maxConsecutiveFailures) disable('failures');
      break;
    default:
      // a 429, a refused session, any other answer: the address was answered, so it is not blocked
      if (outcome.kind !== 'neutral') blockedStrikes = 0;
  }
  const pacing = decision?.state ?? row.pacing;
  return {
    status,
    disabledReason,
    restUntil,
    restReason,
    consecutiveFailures,
    blockedStrikes,
    failed,
    lastError,
    pacing,
    intervalMs: pacing ? sendIntervalMs(pacing, options.pacing) : 0,
    learnedRate: pacing ? learnedRatePerS(pacing) : null,
    note: decision?.note ?? null,
  };
}

/**
 * The session's side of a release: its request is no longer in flight; a success forgets an earlier refusal;
 * a refusal invalidates it on evidence only (see the header). Returns whether it was invalidated now.
 */
async function settleSession(
  tx: Queryable,
  sessionId: string | null,
  outcome: ReleaseOutcome,
  options: ReleaseRowOptions,
  logBase: { batchId: string | null; profileId: string | null; proxyId: string },
): Promise<boolean> {
  if (!sessionId) return false;
  const refused = outcome.kind === 'session_invalid';
  const subject = options.subject ?? null;
  // a checkpoint or an unsendable token is proof enough; a login refusal is, once it repeats for another request
  const conclusive = refused && (outcome.refusal === 'checkpoint' || outcome.refusal === 'unsendable');
  const [session] = await tx<{ id: string; invalidated: boolean; first: string | null }[]>`
    with before as (select id, status, refused_subject from sessions where id = ${sessionId} for update)
    update sessions s set
      in_flight = greatest(0, s.in_flight - 1),
      ${
        refused
          ? tx`status = case when s.status = 'valid' and (${conclusive}::boolean
                 or (before.refused_subject is not null and before.refused_subject is distinct from ${subject}::text))
               then 'invalid' else s.status end,
             refused_subject = coalesce(before.refused_subject, ${subject ?? 'unknown'}::text),
             refused_at = ${options.now}::timestamptz`
          : outcome.kind === 'success'
            ? tx`refused_subject = null, refused_at = null`
            : tx`status = s.status`
      }
    from before where s.id = before.id
    returning s.id, (before.status = 'valid' and s.status = 'invalid') as invalidated, before.refused_subject as first`;
  if (!session?.invalidated || outcome.kind !== 'session_invalid') return false;
  await insertLog(tx, {
    ...logBase,
    level: 'WARNING',
    eventType: 'SESSION_INVALIDATED',
    message: `session ${session.id} was refused upstream and is no longer used`,
    details: {
      session_id: session.id,
      reason: outcome.message ?? 'session refused upstream',
      refusal: outcome.refusal ?? 'login',
      ...(session.first ? { evidence: 'refused for two different requests' } : {}),
    },
  });
  return true;
}
