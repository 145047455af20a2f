/**
 * Watches as the API changes them: the row first (Postgres is the source of truth), then its Schedule
 * (src/watches/schedule.ts).
 *
 * - Create: a watch whose Schedule cannot be created is removed again, and the caller told 503 (or 400 when the
 *   server refuses the cadence), so no watch exists that never ticks.
 * - Update, pause, resume: the row changes, then the Schedule is brought to it (created when it went missing). A
 *   Schedule that cannot be reached is a 503; the row keeps the change, and the next change or the next worker
 *   start (src/watches/reconcile.ts) brings the Schedule in line.
 * - Trigger: a tick now, through the Schedule, overlap rules applying; a paused watch refuses (409).
 * - Delete: the Schedule first, then the row; the watch's batches stay, without their watch.
 */
import { isGrpcServiceError, ScheduleNotFoundError, ServiceError, type Client } from '@temporalio/client';
import { UnavailableError } from '../api/errors.js';
import type { Sql } from '../db/sql.js';
import type { Logger } from '../logging/logger.js';
import { ConflictError, NotFoundError, ValidationError } from '../repos/errors.js';
import {
  createWatch,
  deleteWatch,
  getWatch,
  setWatchPaused,
  updateWatch,
  type CreateWatchInput,
  type UpdateWatchInput,
  type WatchRow,
} from '../repos/watches.js';
import {
  createWatchSchedule,
  deleteWatchSchedule,
  describeWatchSchedule,
  syncWatchSchedule,
  triggerWatchSchedule,
  type WatchScheduleView,
} from './schedule.js';

/** Bound on each Temporal call, from the moment it is made. */
export const SCHEDULE_DEADLINE_MS = 5_000;

const GRPC_INVALID_ARGUMENT = 3;

export interface WatchControlDeps {
  sql: Sql;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  deadlineMs?: number;
}

/** What the server said when it refused the Schedule (INVALID_ARGUMENT), or null for any other failure. */
function refusal(err: unknown): string | null {
  const grpc = err instanceof ServiceError ? err.cause : err;
  return isGrpcServiceError(grpc) && grpc.code === GRPC_INVALID_ARGUMENT ? grpc.details || grpc.message : null;
}

/** A Schedule call that failed, as the API answers it: 400 when the server refused the cadence, 503 otherwise. */
function scheduleFailure(watch: WatchRow, err: unknown, what: string): Error {
  const refused = refusal(err);
  if (refused !== null) {
    const field = watch.cron !== null && !/time ?zone|location/i.test(refused) ? 'cron' : 'timezone';
    return new ValidationError(`the schedule was refused: ${refused}`, { field });
  }
  return new UnavailableError('temporal', `the watch's schedule could not be ${what} (Temporal unreachable); try again shortly`);
}

export function createWatchControl(deps: WatchControlDeps) {
  const { sql, temporal, taskQueue, logger } = deps;
  const deadlineMs = deps.deadlineMs ?? SCHEDULE_DEADLINE_MS;
  const withDeadline = <T>(call: () => Promise<T>) => temporal.withDeadline(Date.now() + deadlineMs, call);

  /** Brings the Schedule to the row; a failure is the caller's 503, the row staying as it is. */
  async function sync(watch: WatchRow): Promise<WatchRow> {
    try {
      await withDeadline(() => syncWatchSchedule(temporal, watch, taskQueue));
    } catch (err) {
      logger.warn('could not bring a watch schedule in line with its watch', { err, watch_id: watch.id });
      throw scheduleFailure(watch, err, 'updated');
    }
    return watch;
  }

  return {
    async create(input: CreateWatchInput): Promise<WatchRow> {
      const watch = await createWatch(sql, input);
      try {
        await withDeadline(() => createWatchSchedule(temporal, watch, taskQueue));
      } catch (err) {
        await deleteWatch(sql, watch.id);
        logger.warn('could not create the schedule of a new watch; the watch was removed', { err, watch_id: watch.id });
        throw scheduleFailure(watch, err, 'created');
      }
      return watch;
    },

    async update(id: string, input: UpdateWatchInput): Promise<WatchRow> {
      return sync(await updateWatch(sql, id, input));
    },

    async setPaused(id: string, paused: boolean): Promise<WatchRow> {
      return sync(await setWatchPaused(sql, id, paused));
    },

    async trigger(id: string): Promise<WatchRow> {
      const watch = await getWatch(sql, id);
      if (watch.paused) throw new ConflictError('the watch is paused: resume it first', { code: 'watch_paused', details: { watch_id: watch.id } });
      try {
        await withDeadline(async () => {
          try {
            await triggerWatchSchedule(temporal, watch.id);
          } catch (err) {
            if (!(err instanceof ScheduleNotFoundError)) throw err;
            await syncWatchSchedule(temporal, watch, taskQueue);
            await triggerWatchSchedule(temporal, watch.id);
          }
        });
      } catch (err) {
        logger.warn('could not trigger a watch schedule', { err, watch_id: watch.id });
        throw scheduleFailure(watch, err, 'triggered');
      }
      return watch;
    },

    async remove(id: string): Promise<void> {
      const watch = await getWatch(sql, id);
      try {
        await withDeadline(() => deleteWatchSchedule(temporal, watch.id));
      } catch (err) {
        logger.warn('could not delete a watch schedule; the watch is kept', { err, watch_id: watch.id });
        throw scheduleFailure(watch, err, 'deleted');
      }
      if (!(await deleteWatch(sql, watch.id))) throw new NotFoundError(`watch ${id} not found`);
    },

    /** The Schedule's next runs and recent actions; null when it is missing or Temporal does not answer. */
    async describe(watchId: string): Promise<WatchScheduleView | null> {
      try {
        return await withDeadline(() => describeWatchSchedule(temporal, watchId));
      } catch (err) {
        logger.debug('could not describe a watch schedule', { err, watch_id: watchId });
        return null;
      }
    },
  };
}

export type WatchControl = ReturnType<typeof createWatchControl>;
