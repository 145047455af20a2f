/**
 * The API fuzzed from its own OpenAPI document by schemathesis: the real server on a free port, with a
 * Postgres database and a Temporal dev server of its own (requests that change state are welcome), every
 * operation exercised with generated valid and invalid requests, stateful sequences included. It passes
 * only with 0 server errors, 0 responses outside their documented schema or status codes, 0 valid
 * requests refused, 0 invalid requests accepted, and 405 with Allow for undocumented methods.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureSchemathesis } from '../../scripts/fuzz-tools.js';
import { startApi, type RunningApi } from '../../src/api/server.js';
import { loadConfig } from '../../src/config.js';
import { createLogger, setLogSink, type LogSink } from '../../src/logging/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createLocalEnv, uniqueIds } from '../helpers/temporal.js';

const API_KEY = 'fuzz-api-key-5c1d7e';
const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
  'positive_data_acceptance',
  'negative_data_rejection',
  'missing_required_header',
  'unsupported_method',
  'allow_header_conformance',
];
/** Generated cases per operation and phase: about a minute on two cores. */
const MAX_EXAMPLES = 15;
/** The run is killed past this (the whole file stays under about two minutes). */
const RUN_DEADLINE_MS = 100_000;
const SEED = 20_261_126;

// A body naming an id that does not exist (a niche, a proxy, profile ids), or a niche without profiles, is
// 400 by contract (docs/api.md); no schema can say which ids exist, so these operations may answer 400 to a
// well-formed body. So may a webhook's: whether a URL may be sent to (https, a public address, no credentials)
// is more than a pattern says. A watch's cron expression and time zone are checked against the grammar and the
// zone names (docs/api.md "Watches"), which no pattern of the document states either. Everything else a body can
// get wrong is in the document.
const CONFIG = [
  ['/batches', 'POST'],
  ['/profiles', 'POST'],
  ['/sessions', 'POST'],
  ['/webhooks', 'POST'],
  ['/webhooks/{id}', 'PATCH'],
  ['/watches', 'POST'],
  ['/watches/{id}', 'PATCH'],
]
  .map(
    ([path, method]) => `[[operations]]
include-path = "${path}"
include-method = "${method}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "409"]
`,
  )
  .join('\n');

let db: TestDatabase;
let env: TestWorkflowEnvironment;
let api: RunningApi;
let schemathesis: string | null;
let workDir: string;
let previousSink: LogSink;
const errorLines: string[] = [];

beforeAll(async () => {
  schemathesis = ensureSchemathesis((line) => console.error(line));
  previousSink = setLogSink((line) => {
    if (line.includes('"level":"error"')) errorLines.push(line);
  });
  [db, env] = await Promise.all([createTestDatabase(), createLocalEnv()]);
  const config = loadConfig({ API_KEY, TEMPORAL_TASK_QUEUE: uniqueIds('fuzz').taskQueue });
  api = await startApi({ config, sql: db.sql, temporal: env.client, port: 0, logger: createLogger({ component: 'api' }) });
  workDir = mkdtempSync(join(tmpdir(), 'storycheck-fuzz-'));
  writeFileSync(join(workDir, 'schemathesis.toml'), CONFIG);
});

afterAll(async () => {
  await api?.close();
  await env?.teardown();
  await db?.drop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  setLogSink(previousSink);
});

function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const deadline = setTimeout(() => child.kill('SIGKILL'), RUN_DEADLINE_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, output });
    });
  });
}

it('finds no server error, no undocumented answer, no refused valid request and no accepted invalid one', async () => {
  expect(schemathesis, 'schemathesis is not installed: run npm run fuzz:install').not.toBeNull();
  const { code, output } = await run(
    schemathesis!,
    [
      '--config-file',
      join(workDir, 'schemathesis.toml'),
      'run',
      `${api.url}/openapi.json`,
      '--header',
      `Authorization: Bearer ${API_KEY}`,
      '--checks',
      CHECKS.join(','),
      '--max-examples',
      String(MAX_EXAMPLES),
      '--seed',
      String(SEED),
      // one worker: the generator is not thread-safe in this version (it fails with "AST constructor
      // recursion depth mismatch" now and then with two)
      '--workers',
      '1',
      '--request-timeout',
      '10',
      // the event streams stay open, a batch's while it runs, the story events' for good
      // (tests/integration/api/events.test.ts and story-events.test.ts cover them); a session's validation needs a
      // worker sending a request through the pool, whose proxies the fuzzer invents at any address
      // (tests/integration/health.test.ts covers it)
      '--exclude-path-regex',
      '/([^/]+/events|events/stream|validate)$',
      '--no-color',
      '--generation-database',
      'none',
    ],
    workDir,
  );
  const summary = output.slice(output.lastIndexOf('SUMMARY'));
  expect(code, output.slice(-20_000)).toBe(0);
  const tested = /(\d+) generated, (\d+) passed/.exec(summary);
  expect(tested, summary).not.toBeNull();
  expect(Number(tested![2])).toBe(Number(tested![1]));
  expect(Number(tested![1])).toBeGreaterThan(500);
  expect(errorLines, errorLines.join('\n')).toEqual([]);
}, 150_000);
