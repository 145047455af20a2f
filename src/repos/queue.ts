/**
 * The queue: every change of a batch's status or place in line. Which status may go to which, by which
 * action, is read from TRANSITIONS below and nowhere else (it mirrors docs/api.md). Every transition runs in one
 * transaction that locks the batch row (and, where the queue changes, the queue_state row, which serialises
 * queue edits) and finishes by renumbering the queue, so positions are dense (1..n) after every transition
 * and at most one batch holds position 0.
 *
 * Lock order, the same in every transaction of the project that takes more than one of these locks:
 *
 *   queue_state → batches → batch_profiles (by profile_id) → profiles (by id) → batch_logs (inserts only)
 *
 * A transaction may skip a level but never goes back up one, and rows of one table are locked in key order
 * (`order by ... for update` in a locking CTE), so two transactions can never wait on each other. The one
 * exception is a batch being created (`createBatch`): it writes its own batches and batch_profiles rows, and
 * takes KEY SHARE on the profiles it names (the foreign key, in batch order), before the queue lock, which
 * it takes last, for the final step only (entering the queue). That is safe: no one can see its rows until it
 * commits, and KEY SHARE conflicts only with FOR UPDATE and key changes of profiles, which nothing that holds
 * the queue lock (and nothing else in the project) takes. So the seconds a 100k-profile create spends
 * writing rows never hold up a transition. Strengths matter too: transitions lock the batch FOR UPDATE; writers of results take
 * NO KEY UPDATE and `markRunning` KEY SHARE on it first, so they wait for a transition before touching any
 * profile row, and never the other way round. The proxy pool locks only proxies rows and then inserts logs
 * (KEY SHARE on the batch), which waits for a transition at most; it never waits on batch_profiles.
 * Transactions still go through `transaction()` (src/db/sql.ts), which runs one again should Postgres ever pick
 * it as a deadlock victim or abort it as a serialization failure: the API never answers 500 for either.
 */
import { transaction, type Sql, type Tx } from '../db/sql.js';
import type { BatchStatus } from '../enums.js';
import type { BatchRow } from './batches.js';
import { ConflictError, isUuid, NotFoundError, ValidationError } from './errors.js';
import { insertLog } from './logs.js';
import { createMissingProfiles } from './profiles.js';

/**
 * The actions an operator takes through the API, in the order a batch offers them (the likeliest first: a
 * stopped batch's resume before start); claim, complete and fail are the runner's bookkeeping.
 */
export const OPERATOR_ACTIONS = ['resume', 'start', 'pause', 'cancel'] as const;
export type OperatorAction = (typeof OPERATOR_ACTIONS)[number];
export type QueueAction = OperatorAction | 'claim' | 'complete' | 'fail';

interface TransitionRule {
  /** The statuses the action moves a batch out of. */
  from: readonly BatchStatus[];
  to: BatchStatus;
  /** Statuses in which the action is already done: the batch is returned as it is. */
  done: readonly BatchStatus[];
  /** Any other status: refused with 409 (an operator's action) or left alone (the runner's bookkeeping). */
  otherwise: 'refuse' | 'keep';
  /** The participle of the refusal message ("cannot be started"). */
  verb: string;
}

/** The legal transitions (docs/api.md): an operator's start/pause/resume/cancel, the runner's claim/complete/fail. */
export const TRANSITIONS: Readonly<Record<QueueAction, TransitionRule>> = {
  start: { from: ['queued', 'paused', 'error'], to: 'queued', done: ['running'], otherwise: 'refuse', verb: 'started' },
  pause: { from: ['queued', 'running'], to: 'paused', done: [], otherwise: 'refuse', verb: 'paused' },
  resume: { from: ['paused', 'error'], to: 'queued', done: [], otherwise: 'refuse', verb: 'resumed' },
  cancel: { from: ['queued', 'running', 'paused', 'error'], to: 'cancelled', done: ['cancelled'], otherwise: 'refuse', verb: 'cancelled' },
  claim: { from: ['queued'], to: 'running', done: ['running'], otherwise: 'keep', verb: 'claimed' },
  complete: { from: ['running'], to: 'done', done: [], otherwise: 'keep', verb: 'completed' },
  // only the run of a running batch can fail: a failure that arrives after the batch was paused, cancelled,
  // or paused and resumed (queued again, waiting its turn) leaves it as the operator left it
  fail: { from: ['running'], to: 'error', done: [], otherwise: 'keep', verb: 'failed' },
};

/** The operator's actions that would change a batch in `status` (one that is already done is not offered). */
export function allowedActions(status: BatchStatus): OperatorAction[] {
  return OPERATOR_ACTIONS.filter((action) => TRANSITIONS[action].from.includes(status));
}

/**
 * What `action` does to a batch in `status`: 'apply' the transition, or 'keep' the batch as it is; an
 * illegal operator action is a ConflictError naming the status.
 */
export function decideTransition(action: QueueAction, status: BatchStatus): 'apply' | 'keep' {
  const rule = TRANSITIONS[action];
  if (rule.from.includes(status)) return 'apply';
  if (rule.done.includes(status) || rule.otherwise === 'keep') return 'keep';
  throw new ConflictError(`batch is ${status} and cannot be ${rule.verb}`, { details: { status } });
}

/**
 * One transition of batch `id` by `action`: the queue lock, the batch lock, then the table's verdict; `apply`
 * runs only when the transition applies (in the same transaction), otherwise the batch comes back unchanged.
 */
function runTransition(
  sql: Sql,
  id: string,
  action: QueueAction,
  apply: (tx: Tx, batch: BatchRow) => Promise<BatchRow>,
): Promise<BatchRow> {
  return transaction(sql, async (tx) => {
    await lockQueue(tx);
    const batch = await lockBatch(tx, id);
    if (decideTransition(action, batch.status) === 'keep') return batch;
    return apply(tx, batch);
  });
}

/** The end of an operator's transition: the queue renumbered, the change logged, the batch as it now is. */
async function settleTransition(
  tx: Tx,
  batch: BatchRow,
  eventType: 'BATCH_QUEUED' | 'BATCH_RESUMED' | 'BATCH_PAUSED' | 'BATCH_CANCELLED',
  message: string,
): Promise<BatchRow> {
  await renumberQueue(tx);
  await insertLog(tx, { batchId: batch.id, level: 'INFO', eventType, message, details: { previous_status: batch.status } });
  return (await tx<BatchRow[]>`select * from batches where id = ${batch.id}`)[0]!;
}

/** Child workflow id of a batch: deterministic, so a signal can always find the running batch. */
export const batchWorkflowId = (batchId: string) => `batch-${batchId}`;

/** Locks the queue (all queue edits serialise on this row) and says whether it is paused. */
async function lockQueue(tx: Tx): Promise<boolean> {
  const [row] = await tx<{ paused: boolean }[]>`select paused from queue_state where singleton for update`;
  return row?.paused ?? false;
}

/** Rewrites the queued batches' positions as 1..n in run order. Needs the deferred unique constraint. */
async function renumberQueue(tx: Tx): Promise<void> {
  await tx`
    update batches b set position = q.rn, updated_at = now()
    from (
      select id, row_number() over (order by head_seq desc nulls last, priority desc, queue_seq asc) as rn
      from batches where status = 'queued'
    ) q
    where b.id = q.id and b.position is distinct from q.rn`;
}

/**
 * Puts the batch's `running` profiles back to `pending`: a batch that is not running shows none as being
 * checked (results of in-flight checks still land: recording accepts pending rows too). Rows are locked in
 * profile order, as everywhere else.
 */
async function releaseRunningProfiles(tx: Tx, id: string): Promise<void> {
  await tx`
    with held as (
      select profile_id from batch_profiles
      where batch_id = ${id} and status = 'running'
      order by profile_id
      for update
    )
    update batch_profiles bp set status = 'pending'
    from held where bp.batch_id = ${id} and bp.profile_id = held.profile_id`;
}

/** Locks the batch row. FOR UPDATE (not NO KEY UPDATE) on purpose: a chunk's `markRunning` takes KEY SHARE on
 * it, so a chunk cannot mark profiles running while a transition is deciding the batch's fate. */
async function lockBatch(tx: Tx, id: string): Promise<BatchRow> {
  if (!isUuid(id)) throw new NotFoundError(`batch ${id} not found`);
  const [row] = await tx<BatchRow[]>`select * from batches where id = ${id} for update`;
  if (!row) throw new NotFoundError(`batch ${id} not found`);
  return row;
}

export interface QueueRows {
  paused: boolean;
  running: BatchRow | null;
  queued: BatchRow[];
}

export async function getQueue(sql: Sql): Promise<QueueRows> {
  const [state] = await sql<{ paused: boolean }[]>`select paused from queue_state where singleton`;
  const rows = await sql<BatchRow[]>`select * from batches where position is not null order by position`;
  const running = rows.find((r) => r.position === 0);
  return {
    paused: state?.paused ?? false,
    running: running ?? null,
    queued: rows.filter((r) => r.position !== 0),
  };
}

/**
 * The profiles of a new batch, in the order they should be checked: ids of existing profiles, or normalised
 * usernames (see normalizeUsernames), whose missing profiles are created along the way.
 */
export type BatchSelection = { profileIds: string[]; usernames?: undefined } | { usernames: string[]; profileIds?: undefined };

export type CreateBatchInput = BatchSelection & {
  name?: string | null;
  priority?: number;
  hold?: boolean;
  /** Seconds a profile's last upstream result may be old and still answer it (0, the default, = never). */
  maxAgeS?: number;
  /**
   * The watch tick that creates it (src/repos/watch-ticks.ts): at most one batch per (watch, scheduled time), by
   * the unique index batches_watch_tick_idx, so a retried tick cannot create a second.
   */
  watch?: { id: string; scheduledAt: Date };
};

/** Profiles per statement of a large create (see createBatch). */
export const CREATE_SLICE = 20_000;

/**
 * Creates a batch and enters it into the queue, or holds it paused. Duplicates are dropped, the first
 * occurrence keeps its place (its ordinal). Returns the batch as stored.
 *
 * The batch and its rows are written in one transaction, so a batch is there whole or not at all. The heavy
 * part (up to 100k batch_profiles rows, seconds) runs first, on a batch no one else can see yet and without
 * the queue lock: transitions of other batches go on meanwhile. Only entering the queue, a few rows, happens
 * under the queue lock, at the very end, so the lock is held for milliseconds whatever the size.
 *
 * By username, the missing profiles are created first, slice by slice on the pool, each slice one statement
 * of its own (a profile is harmless on its own: a create that fails half-way leaves profiles a retry reuses),
 * and only then does the batch's transaction take a connection. Never the two at once: a transaction that
 * waited for a second connection of the pool could wait forever once every connection did the same (the
 * pool refuses it, see src/db/guard.ts).
 */
export async function createBatch(sql: Sql, input: CreateBatchInput): Promise<BatchRow> {
  const byName = input.usernames !== undefined;
  const keys = [...new Set(input.usernames ?? input.profileIds)];
  if (keys.length === 0) throw new ValidationError('the selection holds no profiles');
  const slices: string[][] = [];
  for (let i = 0; i < keys.length; i += CREATE_SLICE) slices.push(keys.slice(i, i + CREATE_SLICE));

  if (byName) for (const slice of slices) await createMissingProfiles(sql, slice);

  const row = await transaction(sql, async (tx) => {
    const [batch] = await tx<BatchRow[]>`
      insert into batches (name, status, position, priority, max_age_s, total_profiles, watch_id, scheduled_at)
      values (${input.name ?? null}, 'paused', null, ${input.priority ?? 0}, ${input.maxAgeS ?? 0}, ${keys.length},
        ${input.watch?.id ?? null}, ${input.watch?.scheduledAt ?? null})
      returning *`;
    const batchId = batch!.id;
    let total = 0;
    for (const [index, slice] of slices.entries()) {
      total += await insertBatchProfiles(tx, batchId, slice, byName, index * CREATE_SLICE);
    }
    if (total === 0) throw new ValidationError('the selection holds no profiles');
    if (total !== keys.length) await tx`update batches set total_profiles = ${total} where id = ${batchId}`;
    if (!input.hold) {
      await lockQueue(tx);
      // its place in line is taken now, so batches enter the queue in the order their creation commits
      await tx`
        update batches set status = 'queued', position = 2000000000, queue_seq = nextval('batch_queue_seq')
        where id = ${batchId}`;
      await renumberQueue(tx);
    }
    await insertLog(tx, {
      batchId,
      level: 'INFO',
      eventType: 'BATCH_QUEUED',
      message: input.hold ? `batch created on hold with ${total} profiles` : `batch queued with ${total} profiles`,
      details: { total_profiles: total, priority: input.priority ?? 0, hold: Boolean(input.hold), max_age_s: input.maxAgeS ?? 0 },
    });
    const [created] = await tx<BatchRow[]>`select * from batches where id = ${batchId}`;
    return created!;
  });
  // Many rows at once leave the planner's statistics behind until autovacuum catches up (a minute or more):
  // meanwhile it would walk every unfinished row of the batch to find a chunk's 50 (55 ms per statement at
  // 100,000 instead of 1). Fresh statistics before the batch runs keep every chunk on the primary key.
  if (keys.length >= ANALYZE_AFTER_ROWS) await sql`analyze batch_profiles`;
  return row;
}

/** A create of this many rows or more refreshes batch_profiles' statistics (see createBatch). */
const ANALYZE_AFTER_ROWS = 10_000;

/**
 * One slice of a new batch's rows, in one statement (the slice travels as one array parameter, its order as
 * ordinals after `offset`). The foreign key takes KEY SHARE on each profile row, which no transition (and no
 * writer of results, who takes NO KEY UPDATE) ever waits on. Returns the rows written.
 */
async function insertBatchProfiles(tx: Tx, batchId: string, slice: string[], byName: boolean, offset: number): Promise<number> {
  const source = byName
    ? tx`unnest(${slice}::text[]) with ordinality as t(name, ord) join profiles p on p.username = t.name`
    : tx`unnest(${slice}::uuid[]) with ordinality as t(pid, ord) join profiles p on p.id = t.pid`;
  const [added] = await tx<{ n: number }[]>`
    with added as (
      insert into batch_profiles (batch_id, profile_id, ordinal)
      select ${batchId}, p.id, (${offset} + t.ord)::int from ${source}
      returning 1
    )
    select count(*)::int as n from added`;
  return added!.n;
}

/** Moves a batch to the head of the queue. */
export async function startBatch(sql: Sql, id: string): Promise<BatchRow> {
  return runTransition(sql, id, 'start', async (tx, batch) => {
    const [running] = await tx<{ id: string }[]>`select id from batches where status = 'running'`;
    if (running) {
      throw new ConflictError('another batch is running', {
        code: 'batch_running',
        details: { running_batch_id: running.id },
      });
    }
    const wasQueued = batch.status === 'queued';
    await tx`
      update batches set status = 'queued', error = null, head_seq = nextval('batch_queue_seq'),
        position = coalesce(position, 2000000000), updated_at = now()
      where id = ${id}`;
    return settleTransition(tx, batch, wasQueued ? 'BATCH_QUEUED' : 'BATCH_RESUMED', 'batch moved to the head of the queue');
  });
}

/** Takes a queued or running batch out of the queue. A running batch's workflow sees it and stops. */
export async function pauseBatch(sql: Sql, id: string): Promise<BatchRow> {
  return leaveQueue(sql, id, 'paused');
}

export async function cancelBatch(sql: Sql, id: string): Promise<BatchRow> {
  return leaveQueue(sql, id, 'cancelled');
}

async function leaveQueue(sql: Sql, id: string, target: 'paused' | 'cancelled'): Promise<BatchRow> {
  return runTransition(sql, id, target === 'paused' ? 'pause' : 'cancel', async (tx, batch) => {
    await tx`
      update batches set status = ${target}, position = null, head_seq = null, updated_at = now(),
        completed_at = ${target === 'cancelled' ? tx`now()` : tx`completed_at`}
      where id = ${id}`;
    await releaseRunningProfiles(tx, id);
    return settleTransition(
      tx,
      batch,
      target === 'paused' ? 'BATCH_PAUSED' : 'BATCH_CANCELLED',
      `batch ${target}${batch.status === 'running' ? ' while running; in-flight checks finish and are kept' : ''}`,
    );
  });
}

/** A paused (or failed) batch re-enters the queue at the end; only profiles not yet completed run again. */
export async function resumeBatch(sql: Sql, id: string): Promise<BatchRow> {
  return runTransition(sql, id, 'resume', async (tx, batch) => {
    await tx`
      update batches set status = 'queued', error = null, head_seq = null, queue_seq = nextval('batch_queue_seq'),
        position = 2000000000, updated_at = now()
      where id = ${id}`;
    // checks abandoned by the stopped run are simply pending again
    await releaseRunningProfiles(tx, id);
    return settleTransition(tx, batch, 'BATCH_RESUMED', 'batch re-entered the queue');
  });
}

export interface QueueChange {
  paused: boolean;
  /** Increases with every change, in commit order: the queuePaused signal carries it (see workflows/signals.ts). */
  version: number;
  running: BatchRow | null;
}

export async function setQueuePaused(sql: Sql, paused: boolean): Promise<QueueChange> {
  return transaction(sql, async (tx) => {
    await lockQueue(tx);
    const [state] = await tx<{ version: number }[]>`
      update queue_state set paused = ${paused}, version = version + 1, updated_at = now() where singleton
      returning version`;
    const [running] = await tx<BatchRow[]>`select * from batches where status = 'running'`;
    if (running) {
      await insertLog(tx, {
        batchId: running.id,
        level: 'INFO',
        eventType: paused ? 'BATCH_PAUSED' : 'BATCH_RESUMED',
        message: paused ? 'queue paused: no upstream request is sent until it resumes' : 'queue resumed',
        details: { queue_paused: paused },
      });
    }
    return { paused, version: state!.version, running: running ?? null };
  });
}

/**
 * Picks what runs next: the batch already running (a runner that restarted picks its batch up again),
 * else the head of the queue, marked running at position 0. Nothing while the queue is paused.
 */
export async function claimNextBatch(sql: Sql): Promise<BatchRow | null> {
  return transaction(sql, async (tx) => {
    const paused = await lockQueue(tx);
    const [running] = await tx<BatchRow[]>`select * from batches where status = 'running'`;
    if (running) return running;
    if (paused) return null;
    // TRANSITIONS.claim: the running batch is already claimed; else the head of the queued ones
    const [next] = await tx<BatchRow[]>`select * from batches where status = 'queued' order by position limit 1 for update`;
    if (!next) return null;
    const [claimed] = await tx<BatchRow[]>`
      update batches set status = 'running', position = 0, head_seq = null, run_count = run_count + 1,
        blocked_reason = null, blocked_since = null, stalled_reason = null, stalled_since = null,
        started_at = coalesce(started_at, now()), workflow_id = ${batchWorkflowId(next.id)}, updated_at = now()
      where id = ${next.id}
      returning *`;
    await renumberQueue(tx);
    await insertLog(tx, {
      batchId: next.id,
      level: 'INFO',
      eventType: 'BATCH_STARTED',
      message: claimed!.run_count > 1 ? `batch started again (run ${claimed!.run_count})` : 'batch started',
      details: { run: claimed!.run_count, total_profiles: claimed!.total_profiles },
    });
    return claimed!;
  });
}

/** Marks a running batch done once no profile is left; a batch paused or cancelled meanwhile stays so. */
export async function completeBatch(sql: Sql, id: string): Promise<BatchRow> {
  return runTransition(sql, id, 'complete', async (tx, batch) => {
    const [left] = await tx<{ n: number }[]>`
      select count(*)::int as n from batch_profiles where batch_id = ${id} and status in ('pending', 'running')`;
    if ((left?.n ?? 0) > 0) return batch;
    const [done] = await tx<BatchRow[]>`
      update batches set status = 'done', position = null, completed_at = now(), updated_at = now()
      where id = ${id} returning *`;
    await renumberQueue(tx);
    const [cached] = await tx<{ n: number }[]>`
      select count(*)::int as n from batch_profiles where batch_id = ${id} and source = 'cache'`;
    const summary = {
      total_profiles: done!.total_profiles,
      completed_profiles: done!.successful_checks + done!.failed_checks,
      successful_checks: done!.successful_checks,
      failed_checks: done!.failed_checks,
      stories_found: done!.stories_found,
      from_cache: cached?.n ?? 0,
    };
    const seconds = done!.started_at ? (done!.completed_at!.getTime() - done!.started_at.getTime()) / 1000 : null;
    await insertLog(tx, {
      batchId: id,
      level: 'INFO',
      eventType: 'BATCH_COMPLETED',
      message: `batch completed: ${summary.successful_checks} checked, ${summary.failed_checks} failed, ${summary.stories_found} with a story`,
      details: { ...summary, seconds },
    });
    return done!;
  });
}

/** An unexpected failure: the batch ends as `error` and leaves the runner free. */
export async function failBatch(sql: Sql, id: string, message: string): Promise<BatchRow> {
  return runTransition(sql, id, 'fail', async (tx) => {
    const [row] = await tx<BatchRow[]>`
      update batches set status = 'error', error = ${message}, position = null, updated_at = now()
      where id = ${id} returning *`;
    await releaseRunningProfiles(tx, id);
    await renumberQueue(tx);
    await insertLog(tx, {
      batchId: id,
      level: 'ERROR',
      eventType: 'BATCH_ERROR',
      message: `batch failed: ${message}`,
      details: { error: message },
    });
    return row!;
  });
}
