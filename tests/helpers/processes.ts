/**
 * Real worker processes (`src/worker/main.ts`) for tests that kill them, and the guards that make sure no child
 * outlives the test file: each child leads a process group of its own, and the group is killed with SIGKILL
 * by `killAllChildren()` (afterAll) and, as a last resort, when the test process exits or is signalled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cleanUpOnExit } from './last-resort.js';
import { sharedWorkflowBundlePath } from './workflow-bundle.js';

const children = new Set<ChildProcess>();
let exitGuardInstalled = false;

function installExitGuard(): void {
  if (exitGuardInstalled) return;
  exitGuardInstalled = true;
  cleanUpOnExit(() => {
    for (const child of children) killGroup(child, 'SIGKILL');
  });
}

/** Signals a child's whole process group (tsx and node under it); a group already gone is fine. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

/** Resolves once the child has exited (at once if it already has). */
export function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
  );
}

/** SIGKILL to the child's group: no graceful shutdown, in-flight work is abandoned mid-way. */
export async function killHard(child: ChildProcess): Promise<void> {
  killGroup(child, 'SIGKILL');
  await exitOf(child);
  children.delete(child);
}

/** Kills every child started here that is still alive (for afterAll). */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...children].map((child) => killHard(child)));
}

/**
 * Worker settings that keep a fault test short: small chunks, and a dead worker's chunk noticed within a
 * few seconds (heartbeat timeout) with its proxy lease reclaimed soon after.
 */
export const FAST_RECOVERY_WORKER_ENV: Record<string, string> = {
  TEMPORAL_SEARCH_ATTRIBUTES: 'true',
  CHECK_CHUNK_SIZE: '25',
  BATCH_CONCURRENCY: '2',
  BATCH_PROFILES_PER_RUN: '200',
  CHECK_HEARTBEAT_TIMEOUT_MS: '3000',
  CHECK_TIMEOUT_MS: '2000',
  CHECK_INITIAL_INTERVAL_MS: '100',
  CHECK_MAX_INTERVAL_MS: '2000',
  // the least a lease may last with these: the request's timeout plus the longest wait for its send time
  PROXY_LEASE_MS: '7500',
  LOG_LEVEL: 'info',
};

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything the worker printed so far (for failure messages). */
  output(): string;
}

/**
 * Starts `src/worker/main.ts` with the given environment (DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE,
 * STORY_API_BASE_URL at least); resolves once it polls.
 */
export async function startWorkerProcess(env: Record<string, string>): Promise<WorkerProcess> {
  installExitGuard();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // the run's workflow bundle: a worker that loads it polls seconds sooner than one that bundles its own
    env: { ...process.env, ...FAST_RECOVERY_WORKER_ENV, WORKFLOW_BUNDLE: sharedWorkflowBundlePath(), ...env },
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  // keep only the tail: a long run logs a line per chunk
  const append = (d: Buffer) => (output = (output + d.toString()).slice(-20_000));
  child.stderr!.on('data', append);
  child.stdout!.on('data', append);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start: ${output}`)), 90_000);
    const onData = () => {
      if (output.includes('worker started')) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code}: ${output}`));
    };
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
  return { child, output: () => output };
}
