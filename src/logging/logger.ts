/**
 * Structured JSON logs on stdout, one line per event: `{"level":"info","time":"<ISO>",...fields,"msg":...}`.
 * pino formats the lines; this module keeps the small API the code base calls (`logger.info(msg, fields)`,
 * `child(fields)`), and adds:
 *
 * - redaction of the whole final line (every field, every error's message, stack and cause) through `redact`,
 *   so a proxy password or a session token that slips into a message or a field never reaches the log;
 * - errors serialized with their type, message, stack and whole cause chain, whatever field holds them;
 * - a log context (`withLogContext`): fields that every line written while a function runs carries (the
 *   worker enters one per activity, with the batch and the Temporal ids), without passing loggers around;
 * - human-readable lines in a terminal (`usePrettyLogs`).
 *
 * The level is `info` until the entry point applies LOG_LEVEL from the configuration (src/process/run-main.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, stdTimeFunctions } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { redact } from './redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogSink = (line: string) => void;
const toStdout: LogSink = (line) => process.stdout.write(line + '\n');
let sink: LogSink = toStdout;
const listeners = new Set<LogSink>();

type Fields = Record<string, unknown>;
const context = new AsyncLocalStorage<Fields>();

const root = pino(
  {
    level: 'info',
    base: undefined,
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // (pino's own `err` serializer would flatten the causes into the message)
    serializers: { err: (value: unknown) => (isErrorLike(value) ? serializeError(value) : value) },
    // a fresh object: pino merges the call's fields into it
    mixin: () => ({ ...context.getStore() }),
  },
  {
    // the line as pino wrote it, whole: redacted here so nothing escapes, whichever field carried the secret
    write(line: string) {
      const redacted = redact(line.endsWith('\n') ? line.slice(0, -1) : line);
      sink(redacted);
      for (const listener of listeners) listener(redacted);
    },
  },
);

/** Redirects log lines (tests capture them to prove secrets never appear). Returns the previous sink. */
export function setLogSink(next: LogSink): LogSink {
  const prev = sink;
  sink = next;
  return prev;
}

/**
 * Hands every line written from now on to `listener` as well, whatever the sink (the test run scans them all
 * for secrets). Returns a function that stops it.
 */
export function onLogLine(listener: LogSink): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function setLogLevel(level: LogLevel | 'silent'): void {
  root.level = level;
}

/**
 * Lines on stdout become human-readable (pino-pretty) when stdout is a terminal, JSON otherwise (a file, a
 * pipe, a log collector). The line is formatted after redaction. Returns whether lines are now pretty.
 */
export function usePrettyLogs(terminal: boolean = process.stdout.isTTY === true): boolean {
  if (!terminal) return false;
  const pretty = prettyFactory({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  sink = (line) => process.stdout.write(pretty(line));
  return true;
}

/**
 * Runs `fn` with `fields` added to every line logged while it runs, including from async work it starts.
 * Nested contexts add to the outer one; a line's own fields win over the context's.
 */
export function withLogContext<T>(fields: Fields, fn: () => T): T {
  return context.run({ ...context.getStore(), ...fields }, fn);
}

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

const isErrorLike = (value: unknown): value is Error =>
  value instanceof Error || (typeof value === 'object' && value !== null && typeof (value as Error).message === 'string' && typeof (value as Error).stack === 'string');

/**
 * An error as JSON: its class, message and stack, its own fields, and its cause chain (and an AggregateError's
 * errors) the same way. A Temporal failure's own `type` (the kind its thrower named, e.g. `RateLimited`) is kept
 * as `failure_type`, and its `failure` (the encoded copy of what is already here) is left out.
 */
export function serializeError(err: Error, seen: Set<unknown> = new Set()): Record<string, unknown> {
  seen.add(err);
  const out: Record<string, unknown> = { type: err.constructor?.name || err.name, message: err.message, stack: err.stack };
  const value = (v: unknown): unknown => (isErrorLike(v) ? (seen.has(v) ? '[circular]' : serializeError(v, seen)) : v);
  for (const [key, v] of Object.entries(err)) {
    if (v === undefined || key === 'failure' || key === 'cause') continue;
    out[key === 'type' ? 'failure_type' : key] = value(v);
  }
  if (err instanceof AggregateError) out.errors = err.errors.map(value);
  if (err.cause !== undefined) out.cause = value(err.cause);
  return out;
}

/** Error values in any field as type, message, stack and cause chain (`err` is pino's serializer's). */
function serialized(fields: Fields): Fields {
  let out: Fields | null = null;
  for (const [key, value] of Object.entries(fields)) {
    if (key === 'err' || !isErrorLike(value)) continue;
    out ??= { ...fields };
    out[key] = serializeError(value);
  }
  return out ?? fields;
}

export function createLogger(base: Fields = {}): Logger {
  const write = (level: LogLevel, msg: string, fields?: Fields) => {
    if (!root.isLevelEnabled(level)) return;
    root[level](fields ? { ...base, ...serialized(fields) } : base, msg);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ ...base, ...serialized(fields) }),
  };
}

export const logger = createLogger();
