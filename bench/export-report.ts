/**
 * The figures of the `export_100k` scenario (bench/export.ts), its goals and the block printed after the
 * summary table. Pure, so that tests/unit/bench-format.test.ts covers it.
 *
 * Goals (printed with pass / MISS, never failing the run): the first byte of each file within 500 ms of the
 * request, and the API's heap during each download at most 20 MB above where it started (the file is streamed
 * from a cursor, never held whole): heapUsed as sampled, uncollected garbage included, and the live heap (after
 * full collections) apart.
 */
import type { ScenarioFigures } from './figures.js';
import { goalLines, thousands, type Goal } from './goals.js';

export const FIRST_BYTE_GOAL_MS = 500;
export const HEAP_GROWTH_GOAL_MB = 20;

/** One download of the batch's export. */
export interface DownloadFigures {
  format: 'csv' | 'ndjson';
  rows: number;
  bytes: number;
  first_byte_ms: number;
  total_ms: number;
  rows_per_s: number;
  /** The API's heapUsed, sampled during the download: its highest minus its value at the start, in MB. */
  heap_growth_mb: number;
  heap_start_mb: number;
  heap_max_mb: number;
  /** Samples taken (one every few milliseconds). */
  heap_samples: number;
  /** The most the heap held above the start right after a full collection, in a second download (collections every MB). */
  live_heap_growth_mb: number;
  live_heap_probes: number;
}

export interface ExportExtras {
  seed_s: number;
  downloads: DownloadFigures[];
  /** The API's heap after the downloads and a full garbage collection: what it kept. */
  api_heap_mb_end: number;
  goals: Goal[];
}

export function exportGoals(downloads: readonly DownloadFigures[]): ExportExtras['goals'] {
  return downloads.flatMap((d) => [
    { goal: `${d.format}: first byte ≤ ${FIRST_BYTE_GOAL_MS} ms`, met: d.first_byte_ms <= FIRST_BYTE_GOAL_MS, actual: `${d.first_byte_ms} ms` },
    { goal: `${d.format}: heap growth ≤ ${HEAP_GROWTH_GOAL_MB} MB`, met: d.heap_growth_mb <= HEAP_GROWTH_GOAL_MB, actual: `${d.heap_growth_mb} MB` },
    {
      goal: `${d.format}: live heap growth ≤ ${HEAP_GROWTH_GOAL_MB} MB`,
      met: d.live_heap_growth_mb <= HEAP_GROWTH_GOAL_MB,
      actual: `${d.live_heap_growth_mb} MB`,
    },
  ]);
}


/** The printed block: one line per download, then the goals. */
export function formatExport(s: ScenarioFigures & ExportExtras): string {
  const lines = [
    `export_100k: a batch of ${thousands(s.profiles)} profiles (seeded in ${s.seed_s} s) downloaded from the API in this process`,
    ...s.downloads.map(
      (d) =>
        `  ${d.format.padEnd(6)} ${thousands(d.rows)} rows, ${(d.bytes / 2 ** 20).toFixed(1)} MB: first byte ${d.first_byte_ms} ms, ` +
        `all in ${d.total_ms} ms (${thousands(d.rows_per_s)} rows/s); API heap ${d.heap_start_mb} → max ${d.heap_max_mb} MB ` +
        `(+${d.heap_growth_mb} MB, ${d.heap_samples} samples); live +${d.live_heap_growth_mb} MB (${d.live_heap_probes} collections)`,
    ),
    `  API heap after the downloads and a full GC: ${s.api_heap_mb_end} MB`,
  ];
  lines.push(...goalLines(s.goals));
  return lines.join('\n');
}
