/**
 * Replays recorded workflow histories against the workflow code of this checkout, without a server or any
 * activity: the check an operator runs before deploying changed workflow code (would it break the runs in
 * flight?) and after a workflow task fails with a nondeterminism error (which event does the code no longer
 * produce?). Histories come from the server, by workflow id or as every run a list query matches, or are
 * handed over by the caller.
 */
import type { Client } from '@temporalio/client';
import { Worker, type ReplayHistoriesIterable } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../worker/workflow-bundle.js';

export interface ReplayVerdict {
  workflowId: string;
  runId: string;
  /** Null when the code replays the history to its end; otherwise what went wrong, in one line. */
  error: string | null;
}

export type ReplaySource =
  | { workflowId: string; runId?: string }
  | { query: string }
  | { histories: ReplayHistoriesIterable };

function oneLine(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.replace(/\s+/g, ' ').trim();
}

function historiesOf(source: ReplaySource, client: Client | undefined): ReplayHistoriesIterable {
  if ('histories' in source) return source.histories;
  if (!client) throw new Error('a Temporal client is needed to fetch histories from the server');
  if ('query' in source) return client.workflow.list({ query: source.query }).intoHistories();
  return (async function* () {
    const handle = client.workflow.getHandle(source.workflowId, source.runId);
    yield { workflowId: source.workflowId, history: await handle.fetchHistory() };
  })();
}

/** Replays each history the source names, in turn, and says for each whether the code still produces it. */
export async function* replayHistories(
  source: ReplaySource,
  options: { client?: Client; workflowBundle?: { code: string } } = {},
): AsyncGenerator<ReplayVerdict> {
  const code = options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH };
  for await (const result of Worker.runReplayHistories(code, historiesOf(source, options.client))) {
    yield { workflowId: result.workflowId, runId: result.runId, error: result.error ? oneLine(result.error) : null };
  }
}
