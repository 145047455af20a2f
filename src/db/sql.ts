import postgres from 'postgres';
import { guardPool } from './guard.js';

/** The postgres.js client type used across the project. */
export type Sql = postgres.Sql<Record<string, never>>;

/** The guards' defaults (their variables in src/config.ts have the same). */
export const DB_DEFAULTS = {
  acquireTimeoutMs: 3_000,
  statementTimeoutMs: 60_000,
  idleInTransactionTimeoutMs: 15_000,
} as const;

export interface DbOptions {
  max?: number;
  /** Seconds to wait for a connection before giving up (keeps start-up and /readyz bounded). */
  connectTimeout?: number;
  /** The pool's name: its application_name in pg_stat_activity, and the name its errors give. */
  name?: string;
  /** How long a transaction may wait for a connection before failing with PoolBusyError (src/db/guard.ts). */
  acquireTimeoutMs?: number;
  /**
   * Postgres's statement_timeout on every connection: the server cancels a statement running longer (0 = no
   * limit, for migrations).
   */
  statementTimeoutMs?: number;
  /**
   * Postgres's idle_in_transaction_session_timeout: a transaction left idle this long is ended by the server,
   * its session closed and its locks freed, whatever happened to the process that opened it (0 = no limit).
   */
  idleInTransactionTimeoutMs?: number;
}

/**
 * Creates an `sql` client (a pool) of a process. Timestamps come back as Date, bigints as numbers (counters
 * stay far below 2^53), and notices are silenced (migrations' "already exists" chatter). Every connection
 * carries a statement timeout and an idle-in-transaction timeout, so the server ends what a process left
 * stuck; the pool itself refuses to wait for a connection while holding one and bounds a transaction's wait
 * for one (src/db/guard.ts).
 */
/**
 * postgres.js 3.4.9 leaves a transaction's connection unreserved when its BEGIN is the query that fills a
 * connection's pipeline (max_pipeline, 100 by default): UNSAFE_TRANSACTION, and the open transaction goes back to
 * the pool (porsager/postgres#823, #1189). Every proxy release is a transaction, so under load a BEGIN often lands
 * on a busy connection; a bound no pool of ours reaches keeps it off that boundary. (Read by the driver, absent
 * from its typings.)
 */
const PIPELINE = { max_pipeline: 100_000 };

export function createSql(url: string, options: DbOptions = {}): Sql {
  const max = options.max ?? 10;
  const name = options.name ?? 'storycheck';
  const raw = postgres(url, {
    max,
    connect_timeout: options.connectTimeout ?? 10,
    idle_timeout: 30,
    ...PIPELINE,
    onnotice: () => {},
    connection: {
      application_name: name,
      statement_timeout: options.statementTimeoutMs ?? DB_DEFAULTS.statementTimeoutMs,
      idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? DB_DEFAULTS.idleInTransactionTimeoutMs,
    },
    types: {
      bigint: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) },
    },
  }) as unknown as Sql;
  return guardPool(raw, { name, max, acquireTimeoutMs: options.acquireTimeoutMs ?? DB_DEFAULTS.acquireTimeoutMs });
}

/** The pool settings the configuration holds, for `createSql`. */
export function poolSettings(config: {
  DATABASE_POOL_TIMEOUT_MS: number;
  DATABASE_STATEMENT_TIMEOUT_MS: number;
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: number;
}): Pick<DbOptions, 'acquireTimeoutMs' | 'statementTimeoutMs' | 'idleInTransactionTimeoutMs'> {
  return {
    acquireTimeoutMs: config.DATABASE_POOL_TIMEOUT_MS,
    statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
    idleInTransactionTimeoutMs: config.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
  };
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
