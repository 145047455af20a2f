/**
 * Structured JSON logs on stdout, one line per event. Every line passes through `redact`, so a proxy
 * password or a session token that slips into a message or a field never reaches the log.
 */
import { redact } from './redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const order: Record<LogLevel | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogSink = (line: string) => void;
let sink: LogSink = (line) => process.stdout.write(line + '\n');
let threshold: number = order[(process.env.LOG_LEVEL as LogLevel) ?? 'info'] ?? order.info;

/** Redirects log lines (tests capture them to prove secrets never appear). Returns the previous sink. */
export function setLogSink(next: LogSink): LogSink {
  const prev = sink;
  sink = next;
  return prev;
}

export function setLogLevel(level: LogLevel | 'silent'): void {
  threshold = order[level];
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

function serializeError(err: unknown): unknown {
  if (err instanceof Error) return { type: err.name, message: err.message };
  return err;
}

export function createLogger(base: Record<string, unknown> = {}): Logger {
  const write = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (order[level] < threshold) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level, msg, ...base };
    for (const [k, v] of Object.entries(fields ?? {})) entry[k] = k === 'err' ? serializeError(v) : v;
    sink(redact(JSON.stringify(entry)));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }),
  };
}

export const logger = createLogger();
