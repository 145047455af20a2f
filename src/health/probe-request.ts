/**
 * What every probe of the health round shares: the one cheap request it sends, how its failure is stored, and
 * the batch its log lines belong to.
 */
import type { Sql } from '../db/sql.js';
import { storableText } from '../db/storable-text.js';
import { redact } from '../logging/redact.js';
import type { ProxyPool } from '../pool/pool.js';
import type { StoryClient, UpstreamTarget } from '../upstream/story-client.js';

/** What the probes work with. */
export interface HealthDeps {
  sql: Sql;
  pool: ProxyPool;
  client: StoryClient;
}

/** A user id that costs the source nothing to answer: one id, almost surely without a story. */
const PROBE_USER_ID = '1';

/** One probe request. The client ends it when `signal` aborts, whatever stage it is at (a silent proxy included). */
export const askSource = (client: StoryClient, target: UpstreamTarget, signal?: AbortSignal) =>
  client.fetchStories(target, [PROBE_USER_ID], signal);

export const errorText = (err: unknown) => storableText(redact(err instanceof Error ? err.message : String(err)), 500);

/** The batch running now, whose log a recovery or an invalidation joins. */
export async function runningBatchId(sql: Sql): Promise<string | null> {
  const [row] = await sql<{ id: string }[]>`select id from batches where status = 'running' limit 1`;
  return row?.id ?? null;
}
