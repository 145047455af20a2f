/**
 * The database's clock, read on this machine: every time the pool writes (a send time, a slot's expiry, a rest's
 * end) is compared later by other worker processes, on other machines, whose clocks may differ by seconds. Times
 * taken from one clock, Postgres's, keep a slow machine from reclaiming a fast one's slots mid-request.
 *
 * Reading Postgres for every timestamp would cost a round trip each; instead the offset between this machine's
 * clock and Postgres's is measured (the midpoint of a round trip) and refreshed now and then.
 */
import type { Sql } from '../db/sql.js';

export interface DatabaseClockOptions {
  /** How often the offset is measured again (clocks drift; NTP steps them). */
  refreshMs?: number;
  /** This machine's clock (injected by tests to play a machine whose clock is off). */
  localNow?: () => number;
}

const DEFAULT_REFRESH_MS = 60_000;

export function createDatabaseClock(sql: Sql, options: DatabaseClockOptions = {}): () => Promise<Date> {
  const refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
  const localNow = options.localNow ?? Date.now;
  let offsetMs: number | null = null;
  let measuredAt = 0;
  let measuring: Promise<void> | null = null;

  async function measure(): Promise<void> {
    const sent = localNow();
    const [row] = await sql<{ ms: number }[]>`select (extract(epoch from clock_timestamp()) * 1000)::float8 as ms`;
    const received = localNow();
    offsetMs = row!.ms - (sent + received) / 2;
    measuredAt = received;
  }

  return async () => {
    if (offsetMs === null || localNow() - measuredAt >= refreshMs) {
      measuring ??= measure().finally(() => {
        measuring = null;
      });
      // a failed refresh keeps the last offset: a clock that is a minute old is better than none
      if (offsetMs === null) await measuring;
      else await measuring.catch(() => {});
    }
    return new Date(localNow() + offsetMs!);
  };
}
