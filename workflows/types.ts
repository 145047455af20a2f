/** Types shared by workflows and activities. Workflow-safe: no imports with side effects. */
import type { BatchStatus } from '../src/enums.js';

/** Knobs of a batch run, read from the worker's configuration by the claim activity and recorded in history. */
export interface BatchSettings {
  /** Profiles per upstream stories request (1..50). */
  chunkSize: number;
  /** Chunks in flight at once; further bounded by usable proxies. */
  concurrency: number;
  /** Profiles handed out per workflow run before continue-as-new. */
  profilesPerRun: number;
  retry: { initialIntervalMs: number; maximumIntervalMs: number; backoffCoefficient: number };
  /** Upper bound of one chunk attempt (several requests through one proxy). */
  chunkTimeoutMs: number;
  /** A worker that dies mid-chunk is noticed after this long, and the chunk retried elsewhere. */
  heartbeatTimeoutMs: number;
  /** How often a run held by a paused queue re-reads Postgres (a lost resume signal is repaired then). */
  heldRecheckMs: number;
  /** Whether the Temporal server has the BatchId/BatchStatus search attributes registered. */
  searchAttributes: boolean;
}

export interface ClaimedBatch {
  batchId: string;
  name: string | null;
  run: number;
  totalProfiles: number;
  workflowId: string;
  settings: BatchSettings;
}

export interface ChunkPage {
  chunks: Array<{ profileIds: string[]; lastOrdinal: number }>;
  /** Status of the batch in Postgres, the source of truth (a lost signal is repaired by reading it). */
  status: BatchStatus | 'missing';
  queuePaused: boolean;
  usableProxies: number;
  /**
   * Requests the usable proxies may carry at once (usable proxies × PROXY_MAX_IN_FLIGHT): how many chunks may
   * be in flight. Absent from pages recorded before proxies carried overlapping requests.
   */
  sendSlots?: number;
}

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
