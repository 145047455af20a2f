/**
 * What keeps a process's Postgres pool from locking up: two rules, enforced on every `sql` client that
 * `createSql` (src/db/sql.ts) hands out.
 *
 * 1. **Never wait for a pool connection while holding one.** A transaction holds its connection until it ends.
 *    Should its callback run a query on the pool itself (instead of on its `tx`), or open a second
 *    transaction there, it waits for another connection; once every connection is held by such a transaction,
 *    none can move, and postgres.js waits for a free connection without a deadline: the whole process stops
 *    answering. So a pool query or transaction started from inside a transaction of the same pool (known
 *    through AsyncLocalStorage, which follows the callback's every await and every promise it starts) fails at
 *    once with PoolInTransactionError, in tests and in production alike: loudly, instead of a deadlock that
 *    only shows under load. Fragments (`sql\`...\`` embedded in a `tx` query) are fine: only running a query
 *    counts. Work the callback started that runs on after the transaction ended is no longer inside it.
 * 2. **Bounded waits for a connection.** Plain queries never wait for a connection to be free: postgres.js
 *    pipelines them onto connections that are not inside a transaction. A transaction, though, needs a
 *    connection of its own for its whole length. At most `max - 1` transactions run at once (one connection
 *    always stays free for plain queries, so a burst of transactions never starves reads, readiness probes
 *    or the queue's bookkeeping), and a transaction that cannot start within `acquireTimeoutMs` fails with
 *    PoolBusyError, which the API answers as 503 with Retry-After: a busy pool is a short wait or a clear
 *    refusal, never a hang.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type postgres from 'postgres';

/** A transaction could not get a connection in time: every one is held by other transactions. */
export class PoolBusyError extends Error {
  override name = 'PoolBusyError';
  readonly code = 'POOL_BUSY';
  constructor(
    readonly pool: string,
    readonly waitedMs: number,
  ) {
    super(`every connection of the ${pool} Postgres pool stayed busy for ${waitedMs} ms`);
  }
}

/** A query or transaction on a pool, started inside a transaction of that same pool (see rule 1 above). */
export class PoolInTransactionError extends Error {
  override name = 'PoolInTransactionError';
  readonly code = 'POOL_IN_TRANSACTION';
  constructor(what: string, pool: string) {
    super(
      `${what} on the ${pool} Postgres pool inside a transaction of the same pool: it would wait for a second ` +
        'connection while holding one (a deadlock once every connection does the same); use the transaction\'s tx',
    );
  }
}

/** One transaction in progress, with the ones it runs inside of (on other pools). */
interface Scope {
  pool: object;
  open: boolean;
  outer: Scope | undefined;
}

const scopes = new AsyncLocalStorage<Scope>();

function insideTransactionOf(pool: object): boolean {
  for (let s = scopes.getStore(); s; s = s.outer) if (s.open && s.pool === pool) return true;
  return false;
}

/** Counting permits handed out first come, first served, each wait bounded. */
class Permits {
  private waiting: Array<() => void> = [];

  constructor(private free: number) {}

  acquire(timeoutMs: number, onTimeout: () => Error): Promise<void> {
    if (this.free > 0 && this.waiting.length === 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w !== grant);
        reject(onTimeout());
      }, timeoutMs);
      this.waiting.push(grant);
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

export interface GuardOptions {
  /** The pool's name in errors (and its application_name in pg_stat_activity). */
  name: string;
  /** The pool's connections. */
  max: number;
  /** How long a transaction may wait for a connection before PoolBusyError. */
  acquireTimeoutMs: number;
}

type AnySql = postgres.Sql<Record<string, never>>;
type QueryLike = { handler: (q: QueryLike) => unknown; reject: (err: unknown) => void };

/** A running query of postgres.js (a Query), as opposed to a helper value (identifier, builder, parameter). */
function isQuery(value: unknown): value is QueryLike {
  return value instanceof Promise && typeof (value as unknown as QueryLike).handler === 'function';
}

/** `raw` with both rules applied: the same client in every other respect. */
export function guardPool<S extends AnySql>(raw: S, options: GuardOptions): S {
  const permits = new Permits(Math.max(1, options.max - 1));
  const takePermit = () =>
    permits.acquire(options.acquireTimeoutMs, () => new PoolBusyError(options.name, options.acquireTimeoutMs));

  // checked when the query runs (awaited or executed), not when it is written: a fragment is never run
  const guarded = <T>(query: T): T => {
    if (!isQuery(query)) return query;
    const run = query.handler;
    query.handler = (q) => {
      if (insideTransactionOf(raw)) return q.reject(new PoolInTransactionError('a query', options.name));
      return run(q);
    };
    return query;
  };

  async function begin(...args: unknown[]): Promise<unknown> {
    const fn = args[args.length - 1] as (tx: unknown) => unknown;
    const mode = args.length > 1 ? (args[0] as string) : '';
    if (insideTransactionOf(raw)) throw new PoolInTransactionError('a transaction', options.name);
    await takePermit();
    const scope: Scope = { pool: raw, open: true, outer: scopes.getStore() };
    try {
      return await raw.begin(mode, (tx) => scopes.run(scope, () => fn(tx)) as never);
    } finally {
      scope.open = false;
      permits.release();
    }
  }

  async function reserve(): Promise<unknown> {
    if (insideTransactionOf(raw)) throw new PoolInTransactionError('a reserved connection', options.name);
    await takePermit();
    let reserved: postgres.ReservedSql<Record<string, never>>;
    try {
      reserved = await raw.reserve();
    } catch (err) {
      permits.release();
      throw err;
    }
    const release = reserved.release.bind(reserved);
    let released = false;
    reserved.release = () => {
      if (!released) {
        released = true;
        permits.release();
      }
      release();
    };
    return reserved;
  }

  return new Proxy(raw, {
    apply: (target, self, args) => guarded(Reflect.apply(target, self, args)),
    get(target, prop, receiver) {
      if (prop === 'begin') return begin;
      if (prop === 'reserve') return reserve;
      const value: unknown = Reflect.get(target, prop, receiver);
      if ((prop === 'unsafe' || prop === 'file') && typeof value === 'function') {
        return (...args: unknown[]) => guarded((value as (...a: unknown[]) => unknown)(...args));
      }
      return value;
    },
  });
}
