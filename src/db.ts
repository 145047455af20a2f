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
