/**
 * `npm run replay -- <workflow-id> [<run-id>]` or `npm run replay -- --query "<list filter>"`: replays the
 * recorded histories of those runs against this checkout's workflow code (replay.ts) and prints one line per
 * run. Exit 0 when every history replays, 1 otherwise (or when none matched), 2 on a usage error.
 */
import { Client, Connection } from '@temporalio/client';
import { runMain } from '../process/run-main.js';
import { redact } from '../logging/redact.js';
import { replayHistories, type ReplaySource } from './replay.js';

const USAGE = [
  'usage: npm run replay -- <workflow-id> [<run-id>]',
  '       npm run replay -- --query "ExecutionStatus = \'Failed\'"',
].join('\n');

function sourceOf(args: string[]): ReplaySource | null {
  const [first, second, ...rest] = args;
  if (!first || rest.length > 0) return null;
  if (first === '--query') return second ? { query: second } : null;
  if (first.startsWith('--')) return null;
  return second ? { workflowId: first, runId: second } : { workflowId: first };
}

runMain(
  async ({ config }) => {
    const source = sourceOf(process.argv.slice(2));
    if (!source) {
      console.error(USAGE);
      process.exit(2);
    }
    const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
    let replayed = 0;
    let failed = 0;
    try {
      for await (const verdict of replayHistories(source, { client })) {
        replayed++;
        if (verdict.error) failed++;
        console.log(`${verdict.error ? 'FAILS  ' : 'replays'} ${verdict.workflowId} ${verdict.runId}${verdict.error ? `: ${verdict.error}` : ''}`);
      }
    } finally {
      await connection.close();
    }
    console.log(replayed === 0 ? 'no history matched' : `${replayed - failed} of ${replayed} histories replay with this code`);
    process.exit(failed > 0 || replayed === 0 ? 1 : 0);
  },
  { temporalRuntime: true, failure: (err) => redact(`replay failed: ${(err as Error)?.message ?? String(err)}`) },
);
