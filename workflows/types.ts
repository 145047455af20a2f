/** Types of the workflows' inputs, results and queries. Workflow-safe: no imports with side effects. */
import type { BatchSettings } from '../activities/types.js';
import type { BatchLabel } from './run-description.js';

export interface BatchRunTotals {
  successful: number;
  failed: number;
  storiesFound: number;
  requests: number;
  chunks: number;
  runs: number;
}

export interface BatchWorkflowInput {
  batchId: string;
  settings: BatchSettings;
  /** Ordinal after which this run continues (continue-as-new carries it). */
  cursor?: number;
  totals?: BatchRunTotals;
  /**
   * The batch's name and size, for the run's texts in the Web UI. The queue records it when it starts the
   * batch, and each continued run carries it (a run continued as new loses the static summary).
   */
  label?: BatchLabel;
}

export type BatchOutcome = 'done' | 'paused' | 'cancelled' | 'stopped';

export interface BatchResult {
  batchId: string;
  outcome: BatchOutcome;
  totals: BatchRunTotals;
}

export interface BatchProgress {
  batchId: string;
  state: 'running' | 'queue_paused' | 'stopping' | 'finished';
  inFlightChunks: number;
  windowSize: number;
  cursor: number;
  totals: BatchRunTotals;
}
