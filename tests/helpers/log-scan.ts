/**
 * Setup of every integration test file (vitest.config.ts `setupFiles`): no proxy credential or session token
 * appears in any log line of the whole run. Every line the file's code writes is kept, at debug level, and
 * searched after the file's tests for every secret the process registered (src/logging/redact.ts) and every secret the
 * fixtures hold; the file fails if one turns up. Lines go to stdout only when TEST_LOG_LEVEL is set (at that
 * level and above).
 *
 * Lines are kept through `onLogLine`, so a file that captures lines with a sink of its own is scanned too.
 */
import { afterAll, beforeEach, expect } from 'vitest';
import { onLogLine, setLogLevel, setLogSink, type LogLevel } from '../../src/logging/logger.js';
import { registeredSecrets } from '../../src/logging/redact.js';
import { SECRETS as API_SECRETS } from '../integration/api/fixtures.js';
import { SECRETS as UPSTREAM_SECRETS } from './upstream.js';

const RANKS: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const echoFrom = (process.env.TEST_LOG_LEVEL as LogLevel | undefined) ?? null;
const echoRank = echoFrom ? (RANKS[echoFrom] ?? 0) : Infinity;

const lines: string[] = [];
onLogLine((line) => lines.push(line));
setLogSink((line) => {
  if (echoRank === Infinity) return;
  const level = /"level":"(\w+)"/.exec(line)?.[1] as LogLevel | undefined;
  if ((RANKS[level ?? 'error'] ?? 3) >= echoRank) process.stdout.write(line + '\n');
});
setLogLevel('debug');
// a file that quietened the logger in its set-up still has its tests' lines scanned
beforeEach(() => setLogLevel('debug'));

afterAll(() => {
  // (the stack's proxy password, tests/helpers/stack.ts, is registered as its proxies are created: importing
  // that module here would cost every file the load of the whole product)
  const secrets = new Set([...registeredSecrets(), ...API_SECRETS, ...UPSTREAM_SECRETS]);
  const text = lines.join('\n');
  const leaks = [...secrets].filter((secret) => text.includes(secret));
  // where each one was, the secret itself masked
  const where = leaks.map((secret) => lines.find((line) => line.includes(secret))!.replaceAll(secret, '<SECRET>').slice(0, 500));
  expect(where, `${lines.length} log lines scanned`).toEqual([]);
});
