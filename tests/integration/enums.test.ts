/**
 * The SQL CHECK constraints repeat the enums of src/enums.ts (SQL cannot import TypeScript): each one of the
 * migrated schema lists exactly the values of its enum, so a value added on one side only fails here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BATCH_PROFILE_STATUSES,
  BATCH_STATUSES,
  DISABLED_REASONS,
  LOG_LEVELS,
  PROXY_STATUSES,
  REST_REASONS,
  RESULT_SOURCES,
  SESSION_STATUSES,
  STALL_REASONS,
  STORY_EVENT_TYPES,
  STORY_MEDIA_TYPES,
  WATCH_TICK_RESULTS,
  WEBHOOK_DELIVERY_EVENT_TYPES,
  WEBHOOK_DELIVERY_STATUSES,
  WEBHOOK_DISABLED_REASONS,
} from '../../src/enums.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const CHECKED: Array<[table: string, column: string, values: readonly string[]]> = [
  ['batches', 'status', BATCH_STATUSES],
  ['batches', 'stalled_reason', STALL_REASONS],
  ['batch_profiles', 'status', BATCH_PROFILE_STATUSES],
  ['batch_profiles', 'source', RESULT_SOURCES],
  ['proxies', 'status', PROXY_STATUSES],
  ['proxies', 'disabled_reason', DISABLED_REASONS],
  ['proxies', 'rest_reason', REST_REASONS],
  ['sessions', 'status', SESSION_STATUSES],
  ['batch_logs', 'level', LOG_LEVELS],
  ['story_items', 'media_type', STORY_MEDIA_TYPES],
  ['story_events', 'type', STORY_EVENT_TYPES],
  ['watches', 'last_tick_result', WATCH_TICK_RESULTS],
  ['webhooks', 'disabled_reason', WEBHOOK_DISABLED_REASONS],
  ['webhook_deliveries', 'event_type', WEBHOOK_DELIVERY_EVENT_TYPES],
  ['webhook_deliveries', 'status', WEBHOOK_DELIVERY_STATUSES],
];

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

/**
 * The values of the one CHECK on `table` that reads `column = ANY (ARRAY[...])`, the form Postgres gives
 * `column in (...)` back in.
 */
async function listedValues(table: string, column: string): Promise<string[]> {
  const rows = await db.sql<{ def: string }[]>`
    select pg_get_constraintdef(c.oid) as def
    from pg_constraint c
    where c.conrelid = ${table}::regclass and c.contype = 'c'`;
  const pattern = new RegExp(`\\(?${column}\\)?(?:::text)?\\s*=\\s*ANY\\s*\\(\\s*\\(?ARRAY\\[([^\\]]*)\\]`);
  const lists = rows.map((r) => pattern.exec(r.def)).filter((m): m is RegExpExecArray => m !== null);
  expect(lists, `one CHECK listing the values of ${table}.${column}`).toHaveLength(1);
  return [...lists[0]![1]!.matchAll(/'((?:[^']|'')*)'/g)].map((m) => m[1]!.replace(/''/g, "'"));
}

describe('enums and the schema', () => {
  for (const [table, column, values] of CHECKED) {
    it(`${table}.${column} allows exactly the values of its TypeScript enum`, async () => {
      expect((await listedValues(table, column)).sort()).toEqual([...values].sort());
    });
  }
});
