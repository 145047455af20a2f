/**
 * A Temporal dev server: the `temporal server start-dev` CLI as a child process. For `npm run dev`, its state
 * lives in a SQLite file (so workflows survive a restart) next to its log, with the Web UI; for the benchmark
 * it runs in memory, headless, its output kept in memory for an error message.
 *
 * The child runs in a process group of its own, so a Ctrl-C in the terminal reaches only the launcher, which
 * stops the worker first (it needs the server to shut down gracefully) and the server last. Three guards keep
 * it from outliving the launcher: `stop()` signals the whole group and escalates to SIGKILL; an `exit` hook
 * kills the group if the launcher exits any other way; and (with a data dir) a pid file lets the next start
 * stop a server left behind by a launcher that was itself killed with SIGKILL.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { TypedSearchAttributes, type SearchAttributeType } from '@temporalio/common';
// not re-exported from the package index; the package has no `exports` map, so the deep path is stable
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import type { Logger } from '../logging/logger.js';
import { settlesWithin } from '../process/timeouts.js';
import { portAnswers } from './ports.js';

export interface SearchAttributeKey {
  name: string;
  type: SearchAttributeType;
}

/** The dev server's switch for eager activity execution (off by default there, on by default in the SDK). */
export const EAGER_ACTIVITIES_ARGS = ['--dynamic-config-value', 'system.enableActivityEagerExecution=true'] as const;

export interface DevTemporalServerOptions {
  /** Path of the `temporal` CLI. */
  cli: string;
  /**
   * Directory of the SQLite file, the server's log and its pid file (created if missing); without one the
   * server keeps its state in memory and its output is kept for `logTail`.
   */
  dataDir?: string;
  host: string;
  port: number;
  /** Port of the Web UI; null runs the server headless. */
  uiPort: number | null;
  namespace: string;
  searchAttributes?: readonly SearchAttributeKey[];
  logger: Logger;
  /** How long the server may take to answer (the first start creates the SQLite schema). */
  startTimeoutMs?: number;
  /**
   * Eager activity execution (`system.enableActivityEagerExecution`, off in the dev server by default): a
   * workflow task that schedules an activity gets it back in its completion's answer, for the same worker to
   * run at once, instead of the activity task travelling through the matching service to a poller.
   */
  eagerActivities?: boolean;
}

export interface DevTemporalServer {
  /** `host:port` of the frontend. */
  address: string;
  /** null when headless. */
  uiUrl: string | null;
  pid: number;
  /** The last lines the server wrote (its log file, or what it printed). */
  logTail(): string;
  /** A connection that has answered; the caller owns it. */
  connection: Connection;
  /** Settles when the child exits (for whatever reason). */
  exited: Promise<ChildExit>;
  /** SIGTERM to the process group, SIGKILL after `timeoutMs`; resolves once the child is gone. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class TemporalServerError extends Error {
  override name = 'TemporalServerError';
}

const DB_FILE = 'temporal.sqlite';
const LOG_FILE = 'temporal.log';
const PID_FILE = 'temporal.pid';

/** Sends a signal to a whole process group; false when no such group is left. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The last lines of a text file, for an error message ('' when unreadable). */
export function tailOf(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** The command line of a live process, or null when there is none (gone, or a zombie). */
export function commandLineOf(pid: number): string | null {
  try {
    // a zombie (exited, not yet reaped) has an empty command line: it is gone
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim() || null;
  } catch {
    // no /proc (macOS): ask ps
    try {
      return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim() || null;
    } catch {
      return null;
    }
  }
}

/**
 * Stops a dev server recorded in the pid file by an earlier launcher that did not get to stop it (killed with
 * SIGKILL, or a crashed terminal). Only a process whose command line is this data dir's server is touched.
 */
async function stopLeftover(dataDir: string, logger: Logger): Promise<void> {
  const pidFile = join(dataDir, PID_FILE);
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 1) return;
  const cmd = commandLineOf(pid);
  if (!cmd || !cmd.includes('start-dev') || !cmd.includes(join(dataDir, DB_FILE))) return;
  logger.warn('stopping a Temporal dev server left running by an earlier run', { pid });
  signalGroup(pid, 'SIGTERM');
  for (let i = 0; i < 50 && commandLineOf(pid) !== null; i++) await sleep(100);
  if (commandLineOf(pid) !== null) signalGroup(pid, 'SIGKILL');
}

/**
 * Waits until a Temporal frontend answers and knows `namespace`; returns the connection. `abort` settles when
 * waiting is pointless (the child exited): its message becomes the error.
 */
export async function waitForTemporal(
  address: string,
  namespace: string,
  options: { timeoutMs: number; abort?: Promise<string> },
): Promise<Connection> {
  const deadline = Date.now() + options.timeoutMs;
  let aborted: string | null = null;
  void options.abort?.then((reason) => (aborted = reason));
  let lastError = 'no answer';
  while (Date.now() < deadline) {
    if (aborted !== null) throw new TemporalServerError(aborted);
    let connection: Connection | null = null;
    try {
      connection = await Connection.connect({ address, connectTimeout: 1_000 });
      await connection.workflowService.describeNamespace({ namespace });
      return connection;
    } catch (err) {
      lastError = (err as Error).message?.split('\n')[0] ?? String(err);
      await connection?.close().catch(() => {});
    }
    await sleep(250);
  }
  throw new TemporalServerError(`Temporal at ${address} did not answer within ${options.timeoutMs / 1000} s (${lastError})`);
}

/**
 * Makes sure the namespace has the given search attributes (an existing server started without them, e.g.
 * one named by TEMPORAL_ADDRESS). Returns false when they are missing and cannot be added.
 */
export async function ensureSearchAttributes(
  connection: Connection,
  namespace: string,
  keys: readonly SearchAttributeKey[],
  logger: Logger,
): Promise<boolean> {
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = keys.filter((k) => !customAttributes || !(k.name in customAttributes));
    if (missing.length === 0) return true;
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((k) => [k.name, encodeSearchAttributeIndexedValueType(k.type)!])),
    });
    logger.info('search attributes registered', { namespace, names: missing.map((k) => k.name) });
    return true;
  } catch (err) {
    logger.warn('could not register the BatchId/BatchStatus search attributes; batches run without them', { err });
    return false;
  }
}

/** Starts `temporal server start-dev` and waits until it answers. */
export async function startDevTemporalServer(options: DevTemporalServerOptions): Promise<DevTemporalServer> {
  const { cli, dataDir, host, port, uiPort, namespace, logger } = options;
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
    await stopLeftover(dataDir, logger);
  }
  await ensurePortsFree(host, port, uiPort);
  const output = startOutput(dataDir);
  const server = await spawnServer(cli, devServerArgs(options), output, dataDir);
  const stop = stopper(server, logger);

  const address = `${host}:${port}`;
  const earlyExit = server.exited.then(
    ({ code, signal }) =>
      `the Temporal dev server exited during start-up (${signal ?? `code ${code}`}); last lines of ${output.name}:\n${output.tail()}`,
  );
  try {
    const connection = await waitForTemporal(address, namespace, { timeoutMs: options.startTimeoutMs ?? 60_000, abort: earlyExit });
    const shownHost = host.includes(':') ? `[${host}]` : host;
    const uiUrl = uiPort === null ? null : `http://${shownHost}:${uiPort}`;
    return { address, uiUrl, pid: server.pid, connection, exited: server.exited, stop, logTail: output.tail };
  } catch (err) {
    await stop(5_000);
    throw err;
  }
}

/** Fails with what to do when the frontend's port or the Web UI's is taken already. */
async function ensurePortsFree(host: string, port: number, uiPort: number | null): Promise<void> {
  for (const [what, p, variable] of [
    ['Temporal frontend', port, 'DEV_TEMPORAL_PORT'],
    ['Temporal Web UI', uiPort, 'DEV_TEMPORAL_UI_PORT'],
  ] as const) {
    if (p !== null && (await portAnswers(host, p))) {
      throw new TemporalServerError(
        `port ${p} (${what}) is already in use on ${host}: stop what holds it, set ${variable} to another port` +
          (what === 'Temporal frontend' ? `, or set TEMPORAL_ADDRESS=${host}:${p} to use a server already running there` : ''),
      );
    }
  }
}

/** The CLI's arguments for these options. */
function devServerArgs(options: DevTemporalServerOptions): string[] {
  const { dataDir, host, port, uiPort, namespace } = options;
  return [
    'server',
    'start-dev',
    ...(dataDir ? ['--db-filename', join(dataDir, DB_FILE)] : []),
    '--ip',
    host,
    '--port',
    String(port),
    ...(uiPort === null ? ['--headless'] : ['--ui-port', String(uiPort)]),
    // "default" always exists; another namespace is created at launch
    ...(namespace === 'default' ? [] : ['--namespace', namespace]),
    ...(options.searchAttributes ?? []).flatMap((k) => ['--search-attribute', `${k.name}=${TypedSearchAttributes.toMetadataType(k.type)}`]),
    ...(options.eagerActivities ? EAGER_ACTIVITIES_ARGS : []),
    '--log-level',
    'error',
  ];
}

/** The server's process, as long as it runs. */
interface SpawnedServer {
  pid: number;
  exited: Promise<ChildExit>;
  /** Whether it has exited. */
  gone(): boolean;
}

/**
 * The CLI in a process group of its own, its pid recorded in the data dir; should the launcher exit without
 * stop(), the group is killed with it (the pid file goes once the child is gone).
 */
async function spawnServer(cli: string, args: readonly string[], output: StartOutput, dataDir: string | undefined): Promise<SpawnedServer> {
  const child = spawn(cli, args, { detached: true, stdio: ['ignore', output.stdio, output.stdio] });
  output.attach(child);
  if (child.pid === undefined) {
    const error = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new TemporalServerError(`could not start ${cli}: ${error.message}`);
  }
  const pid: number = child.pid;
  child.on('error', () => {});
  if (dataDir) writeFileSync(join(dataDir, PID_FILE), `${pid}\n`);
  // last resort: a launcher that exits without stop() takes the server with it
  const killOnExit = () => void signalGroup(pid, 'SIGKILL');
  process.once('exit', killOnExit);

  let gone = false;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => {
      gone = true;
      process.removeListener('exit', killOnExit);
      if (dataDir) rmSync(join(dataDir, PID_FILE), { force: true });
      resolve({ code, signal });
    });
  });
  return { pid, exited, gone: () => gone };
}

/** The server's stop(): SIGTERM to its group, SIGKILL after `timeoutMs`, then SIGKILL to whatever is left of the group. */
function stopper({ pid, exited, gone }: SpawnedServer, logger: Logger): DevTemporalServer['stop'] {
  return async function stop(timeoutMs = 10_000): Promise<void> {
    if (!gone()) {
      signalGroup(pid, 'SIGTERM');
      if (!(await settlesWithin(exited, timeoutMs))) {
        logger.warn('Temporal dev server did not stop in time; killing it', { pid });
        signalGroup(pid, 'SIGKILL');
        await exited;
      }
    }
    // anything the server started in its group goes too
    signalGroup(pid, 'SIGKILL');
  };
}

type StartOutput = ReturnType<typeof startOutput>;

/**
 * Where the server's own output goes: a file in the data dir (the terminal stays readable; the tail is shown
 * if it fails), or, without one, the last few kilobytes in memory.
 */
function startOutput(dataDir: string | undefined): {
  name: string;
  stdio: number | 'pipe';
  attach(child: ChildProcess): void;
  tail(): string;
} {
  if (dataDir) {
    const logFile = join(dataDir, LOG_FILE);
    const fd = openSync(logFile, 'w');
    return { name: logFile, stdio: fd, attach: () => closeSync(fd), tail: () => tailOf(logFile) };
  }
  let kept = '';
  return {
    name: 'its output',
    stdio: 'pipe',
    attach(child) {
      const keep = (d: Buffer) => void (kept = (kept + d.toString()).slice(-4000));
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
    },
    tail: () => kept.trimEnd().split('\n').slice(-15).join('\n'),
  };
}
