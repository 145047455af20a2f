/**
 * `npm run replay`: a run recorded on a real server replays against this checkout's workflow code (exit 0),
 * and a history the code no longer produces is named with its nondeterminism error.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayHistories, type ReplayVerdict } from '../../src/replay/replay.js';
import { proxyHealthWorkflow } from '../../workflows/proxy-health.js';
import { readHistoryFile } from '../fixtures/histories/history-file.js';
import { createLocalEnv, uniqueIds } from '../helpers/temporal.js';
import { sharedWorkflowBundle } from '../helpers/workflow-bundle.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const fixtures = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await createLocalEnv();
});

afterAll(async () => {
  await env?.teardown();
});

async function collect(verdicts: AsyncIterable<ReplayVerdict>): Promise<ReplayVerdict[]> {
  const all: ReplayVerdict[] = [];
  for await (const v of verdicts) all.push(v);
  return all;
}

/** `npm run replay -- ...args` against this file's server; never throws on a non-zero exit. */
async function replayCommand(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const address = env.connection.options.address;
  try {
    const { stdout, stderr } = await run('npx', ['tsx', 'src/replay/main.ts', ...args], {
      cwd: root,
      env: { ...process.env, TEMPORAL_ADDRESS: address, LOG_LEVEL: 'error' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('npm run replay', () => {
  it('replays a run fetched from the server by its workflow id', async () => {
    const { taskQueue, workflowId } = uniqueIds('replay');
    const report = { proxiesProbed: 2, proxiesRecovered: 1, sessionsProbed: 0, sessionsRecovered: 0 };
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: sharedWorkflowBundle(),
      activities: { probeHealth: async () => report },
    });
    await worker.runUntil(env.client.workflow.execute(proxyHealthWorkflow, { taskQueue, workflowId }));

    const result = await replayCommand(workflowId);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^replays ${workflowId} `, 'm'));
    expect(result.stdout).toContain('1 of 1 histories replay with this code');
  });

  it('exits 1 when no run matches a query, and 2 with the usage on bad arguments', async () => {
    const none = await replayCommand('--query', `WorkflowId = 'no-such-run'`);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('no history matched');

    const usage = await replayCommand('--bogus');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: npm run replay');
  });

  it('replays the recorded batch histories, and names the one the code no longer produces', async () => {
    const files = readdirSync(fixtures).filter((f) => f.endsWith('.json')).sort();
    const histories = await Promise.all(files.map(async (f) => ({ workflowId: f, history: await readHistoryFile(`${fixtures}${f}`) })));
    const clean = await collect(replayHistories({ histories }));
    expect(clean.map((v) => [v.workflowId, v.error])).toEqual(files.map((f) => [f, null]));

    // the same run, as if the workflow had once scheduled an activity it no longer knows
    const tampered = await readHistoryFile(`${fixtures}small-batch-done.json`);
    const scheduled = tampered.events.find((e) => e.activityTaskScheduledEventAttributes)!;
    scheduled.activityTaskScheduledEventAttributes!.activityType = { name: 'checkChunkRenamed' };
    const [verdict] = await collect(replayHistories({ histories: [{ workflowId: 'tampered', history: tampered }] }));
    expect(verdict!.workflowId).toBe('tampered');
    expect(verdict!.error).toMatch(/Determinism|nondetermin/i);
  });
});
