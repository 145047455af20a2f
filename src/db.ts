import postgres from 'postgres';

/** The postgres.js client type used across the project. */
export type Sql = postgres.Sql<Record<string, never>>;

export interface DbOptions {
  max?: number;
  /** Seconds to wait for a connection before giving up (keeps start-up and /readyz bounded). */
  connectTimeout?: number;
}

/**
 * Creates the one `sql` client of a process. Timestamps come back as Date, bigints as numbers (counters
 * stay far below 2^53), and notices are silenced (migrations' "already exists" chatter).
 */
export function createSql(url: string, options: DbOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeout ?? 10,
    idle_timeout: 30,
    onnotice: () => {},
    types: {
      bigint: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) },
    },
  }) as unknown as Sql;
}

/** A human sentence for a connection failure, without the URL's password. */
export function describeDbError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e?.code === 'ECONNREFUSED') return 'Postgres refused the connection (is it running?)';
  if (e?.code === 'CONNECT_TIMEOUT') return 'Postgres did not answer in time';
  if (e?.code === 'ENOTFOUND' || e?.code === 'EAI_AGAIN') return 'Postgres host could not be resolved';
  if (e?.code === '3D000') return 'the database does not exist';
  if (e?.code === '28P01' || e?.code === '28000') return 'Postgres rejected the credentials';
  return `Postgres error: ${e?.message ?? String(err)}`;
}

/** The `sql` handed to a `sql.begin(async (tx) => ...)` callback. */
export type Tx = postgres.TransactionSql<Record<string, never>>;

/** SQLSTATEs after which the whole transaction may simply run again: deadlock detected, serialization failure. */
const RETRYABLE_SQLSTATES = new Set(['40P01', '40001']);

export function isRetryableConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RETRYABLE_SQLSTATES.has(code);
}

export interface RetryOptions {
  /** Runs in all, the first included. */
  attempts?: number;
  /** Upper bound of the random pause before the second run; doubles with each further run. */
  baseDelayMs?: number;
}

/**
 * Runs `fn` again when Postgres aborted it as a deadlock victim or a serialization failure: its work was
 * rolled back, so a fresh run is exactly as correct as the first. Locks are taken in one fixed order (see
 * src/repos/queue.ts), so this is the safety net, not the normal path. The jitter keeps two victims from
 * colliding again in lockstep. `fn` must have no effect outside the database.
 */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 6;
  const base = options.baseDelayMs ?? 20;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isRetryableConflict(err) || attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * base * 2 ** (attempt - 1)));
    }
  }
}

/**
 * `sql.begin(fn)`, typed: postgres.js declares its result as `UnwrapPromiseArray<T>`, which TypeScript cannot
 * reduce for a generic T, though for a callback returning Promise<T> it is T. The one cast lives here.
 */
export function inTx<T>(sql: Sql, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return sql.begin(fn) as Promise<T>;
}

/** `sql.begin(fn)`, run again from the start on a deadlock or serialization failure (see `withRetry`). */
export function transaction<T>(sql: Sql, fn: (tx: Tx) => Promise<T>, options?: RetryOptions): Promise<T> {
  return withRetry(() => inTx(sql, fn), options);
}
