// The logger's contract: one JSON line per event, levels, errors with their stack and causes, child and
// context fields, and no registered secret reaching the sink in any part of a line.
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, onLogLine, setLogLevel, setLogSink, withLogContext, type LogSink } from '../../src/logging/logger.js';
import { registerSecret } from '../../src/logging/redact.js';

let lines: string[];
let previousSink: LogSink;

beforeEach(() => {
  lines = [];
  previousSink = setLogSink((line) => lines.push(line));
  setLogLevel('info');
});

afterEach(() => {
  setLogSink(previousSink);
  setLogLevel('info');
});

const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

describe('logger', () => {
  it('writes one JSON line per event: ISO time, level label, message and the fields at the top level', () => {
    createLogger({ component: 'test' }).info('batch started', { batch_id: 'b-1', profiles: 3 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    const [entry] = parsed();
    expect(entry).toEqual({ time: expect.any(String), level: 'info', msg: 'batch started', component: 'test', batch_id: 'b-1', profiles: 3 });
    expect(new Date(entry!.time as string).toISOString()).toBe(entry!.time);
  });

  it('writes the levels at or above the one set, nothing when silent', () => {
    const log = createLogger();
    const all = () => {
      log.debug('d');
      log.info('i');
      log.warn('w');
      log.error('e');
    };
    all();
    expect(parsed().map((e) => e.level)).toEqual(['info', 'warn', 'error']);
    lines.length = 0;
    setLogLevel('debug');
    all();
    expect(parsed().map((e) => e.level)).toEqual(['debug', 'info', 'warn', 'error']);
    lines.length = 0;
    setLogLevel('error');
    all();
    expect(parsed().map((e) => e.msg)).toEqual(['e']);
    lines.length = 0;
    setLogLevel('silent');
    all();
    expect(lines).toEqual([]);
  });

  it('applies a level set after a logger (or its child) was created', () => {
    const child = createLogger({ a: 1 }).child({ b: 2 });
    child.debug('hidden');
    setLogLevel('debug');
    child.debug('shown');
    expect(parsed()).toEqual([expect.objectContaining({ msg: 'shown', a: 1, b: 2 })]);
  });

  it('serializes an error with its type, message, stack and whole cause chain, in `err` or any field', () => {
    const root = new TypeError('socket closed');
    const middle = new Error('request failed', { cause: root });
    const top = new RangeError('chunk failed', { cause: middle });
    createLogger().error('failed', { err: top, other: new Error('second one') });
    const [entry] = parsed();
    const err = entry!.err as Record<string, Record<string, unknown> & { cause: Record<string, unknown> }>;
    expect(err).toMatchObject({ type: 'RangeError', message: 'chunk failed', cause: { type: 'Error', message: 'request failed' } });
    expect(err.stack).toContain('RangeError: chunk failed');
    expect(err.cause!.stack).toContain('Error: request failed');
    expect(err.cause!.cause).toMatchObject({ type: 'TypeError', message: 'socket closed' });
    expect(err.cause!.cause.stack).toContain('TypeError: socket closed');
    expect(entry!.other).toMatchObject({ type: 'Error', message: 'second one', stack: expect.stringContaining('second one') });
  });

  it("keeps a Temporal failure's own type, category and retry delay next to its class", () => {
    const failure = ApplicationFailure.create({
      type: 'RateLimited',
      message: 'every proxy rate limited',
      nextRetryDelay: 1_000,
      category: ApplicationFailureCategory.BENIGN,
    });
    const looped = new Error('loop');
    looped.cause = looped;
    createLogger().warn('Activity failed', { error: failure, looped });
    const [entry] = parsed();
    expect(entry!.error).toMatchObject({
      type: 'ApplicationFailure',
      failure_type: 'RateLimited',
      message: 'every proxy rate limited',
      category: 'BENIGN',
      nextRetryDelay: 1_000,
      nonRetryable: false,
    });
    expect(entry!.error).not.toHaveProperty('failure');
    expect(entry!.looped).toMatchObject({ message: 'loop', cause: '[circular]' });
  });

  it('never lets a registered secret reach the sink: message, field, error message, stack, cause', () => {
    const secret = 'Logger-Unit-Secret-5123';
    registerSecret(secret);
    const cause = new Error(`upstream said ${secret}`);
    const err = new Error(`lease failed for ${secret}`, { cause });
    err.stack = `Error: lease failed\n    at handler (/proxy/${secret}/x.ts:1:1)`;
    const seen: string[] = [];
    const stop = onLogLine((line) => seen.push(line));
    createLogger({ proxy: `http://agent:${secret}@127.0.0.1:1` }).child({ token: secret }).error(`failed with ${secret}`, {
      password: secret,
      nested: { deep: [secret] },
      err,
      also: new Error('x', { cause: new Error(`cause ${secret}`) }),
    });
    stop();
    expect(lines).toHaveLength(1);
    expect(seen).toEqual(lines);
    expect(lines[0]).not.toContain(secret);
    expect(lines[0]).not.toContain('5123');
    const [entry] = parsed();
    expect(entry).toMatchObject({ msg: 'failed with ***', err: { message: 'lease failed for ***', cause: { message: 'upstream said ***' } } });
    expect((entry!.err as { stack: string }).stack).toContain('/proxy/***/x.ts');
  });

  it('adds child fields to every line, the call fields winning over them', () => {
    const log = createLogger({ component: 'pool' }).child({ proxy_id: 'p1', shared: 'child' });
    log.warn('rested', { shared: 'call' });
    expect(parsed()).toEqual([expect.objectContaining({ component: 'pool', proxy_id: 'p1', shared: 'call', msg: 'rested' })]);
  });

  it('adds the log context to every line written while a function runs, across awaits, nested contexts adding up', async () => {
    const log = createLogger({ component: 'checker' });
    log.info('before');
    await withLogContext({ batch_id: 'b-7', workflow_id: 'wf-1' }, async () => {
      await new Promise((r) => setTimeout(r, 5));
      log.info('inside');
      await withLogContext({ activity_id: '3', attempt: 2 }, async () => {
        await Promise.resolve();
        log.info('nested', { attempt: 3 });
      });
    });
    log.info('after');
    const entries = parsed();
    expect(entries[0]).not.toHaveProperty('batch_id');
    expect(entries[1]).toMatchObject({ msg: 'inside', batch_id: 'b-7', workflow_id: 'wf-1', component: 'checker' });
    expect(entries[1]).not.toHaveProperty('activity_id');
    expect(entries[2]).toMatchObject({ msg: 'nested', batch_id: 'b-7', workflow_id: 'wf-1', activity_id: '3', attempt: 3 });
    expect(entries[3]).not.toHaveProperty('batch_id');
    // each key once in the line, even when the call repeats a context field
    expect(lines[2]!.match(/"attempt"/g)).toHaveLength(1);
  });
});
