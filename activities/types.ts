/** Types of the activities' inputs and outputs, shared with the workflows that call them. Workflow-safe: types only. */
import type { BatchStatus, StallReason } from '../src/enums.js';

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

/** A chunk of unfinished profiles, in ordinal order, as paged from Postgres. */
export interface Chunk {
  profileIds: string[];
  /** Ordinal of the chunk's last profile: the cursor once it is handed out. */
  lastOrdinal: number;
  /**
   * The usernames of its first and last profiles, for the chunk activity's summary in the UI (two names, not
   * all of them: the page is recorded in history). Absent from pages recorded before chunks carried them.
   */
  firstUsername?: string;
  lastUsername?: string;
}

/** The batch's counters as stored (successful_checks, failed_checks, stories_found, total_profiles). */
export interface StoredCounts {
  totalProfiles: number;
  successful: number;
  failed: number;
  storiesFound: number;
}

export interface ChunkPage {
  chunks: Chunk[];
  /** Status of the batch in Postgres, the source of truth (a lost signal is repaired by reading it). */
  status: BatchStatus | 'missing';
  queuePaused: boolean;
  usableProxies: number;
  /**
   * Requests the usable proxies may carry at once (usable proxies × PROXY_MAX_IN_FLIGHT): how many chunks may
   * be in flight. Absent from pages recorded before proxies carried overlapping requests.
   */
  sendSlots?: number;
  /** Why the batch sends nothing, once that has lasted (batches.stalled_reason). Absent from older pages. */
  stalledReason?: StallReason | null;
  /** The batch's counters when the page was read. Absent from older pages. */
  counts?: StoredCounts;
}
