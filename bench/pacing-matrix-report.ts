/**
 * The figures of the `pacing_matrix` scenario (bench/pacing-matrix.ts): per kind of source, the median of its
 * runs with their spread, the goal beside it and whether the median meets it, and the block printed after
 * the summary table. Pure, so that tests/unit/bench-format.test.ts covers it.
 */
import { formatSpread, spread, type Spread } from './figures.js';

export const SOURCE_KEYS = ['token_bucket', 'fixed_window', 'sliding_window', 'storm', 'storm_bucket', 'slow', 'limit_changes'] as const;
export type SourceKey = (typeof SOURCE_KEYS)[number];

export const CHANGES = ['halved', 'doubled', 'lifted'] as const;
export type Change = (typeof CHANGES)[number];

/** One run against one source. */
export interface SourceRun {
  /** Requests answered other than 429 per second over the measurement, over the physical limit (P × r). */
  share_of_limit: number | null;
  /** 429s among the requests of the measurement. */
  rate_limited_share: number;
  rate_limited_by: { bucket: number; window: number; random: number };
  requests: number;
  seconds: number;
  /** storm: the stormy pass's time over the same pass's without the storm. */
  time_ratio?: number;
  /** storm: profiles failed though they exist (every one does). */
  wrongly_failed?: number;
  /** slow: this process's CPU time over the measurement's wall time (1 = one core). */
  cpu_share?: number;
  /** limit_changes: seconds from each change until the source's new limit is met at 0.8 or more (null: not within the phase). */
  recovery_s?: Record<Change, number | null>;
  learned_rate_per_s: Array<number | null>;
}

export interface SourceFigures {
  key: SourceKey;
  /** What the source does, in words. */
  source: string;
  goal: string;
  runs: SourceRun[];
  share_of_limit: Spread | null;
  rate_limited_share: Spread | null;
  time_ratio?: Spread | null;
  wrongly_failed?: number;
  cpu_share?: Spread | null;
  recovery_s?: Record<Change, Spread | null>;
  /** Whether the medians meet the goal. */
  met: boolean;
}

/** Whether a source's medians meet its goal (README, `pacing_matrix`). */
export function goalMet(key: SourceKey, f: Omit<SourceFigures, 'met' | 'goal' | 'source' | 'key'>): boolean {
  const share = f.share_of_limit?.median ?? 0;
  const limited = f.rate_limited_share?.median ?? 1;
  switch (key) {
    case 'token_bucket':
    case 'fixed_window':
      return share >= 0.85 && limited <= 0.02;
    case 'sliding_window':
      return share >= 0.8 && limited <= 0.02;
    case 'storm':
      return (f.time_ratio?.median ?? Infinity) <= 4 && f.wrongly_failed === 0;
    case 'storm_bucket':
      return share >= 0.6;
    case 'slow':
      return share >= 0.9 && (f.cpu_share?.median ?? 1) < 0.05;
    case 'limit_changes':
      return CHANGES.every((c) => {
        const r = f.recovery_s?.[c];
        return !!r && r.max <= 120;
      });
  }
}

export const GOALS: Record<SourceKey, string> = {
  token_bucket: '≥ 0.85 of the limit, ≤ 2% 429s',
  fixed_window: '≥ 0.85, ≤ 2% 429s',
  sliding_window: '≥ 0.8, ≤ 2% 429s',
  storm: '≤ 4× the calm time, 0 wrongly failed',
  storm_bucket: '≥ 0.6',
  slow: '≥ 0.9, CPU < 5% of a core',
  limit_changes: '≥ 0.8 of each new limit within 120 s',
};

const finite = (values: Array<number | null | undefined>): number[] => values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));

/** A source's runs as medians with their spread, and the verdict. */
export function summarize(key: SourceKey, source: string, runs: SourceRun[]): SourceFigures {
  const figures: Omit<SourceFigures, 'met'> = {
    key,
    source,
    goal: GOALS[key],
    runs,
    share_of_limit: spread(finite(runs.map((r) => r.share_of_limit))),
    rate_limited_share: spread(runs.map((r) => r.rate_limited_share)),
    ...(runs.some((r) => r.time_ratio !== undefined) ? { time_ratio: spread(finite(runs.map((r) => r.time_ratio))) } : {}),
    ...(runs.some((r) => r.wrongly_failed !== undefined) ? { wrongly_failed: Math.max(...runs.map((r) => r.wrongly_failed ?? 0)) } : {}),
    ...(runs.some((r) => r.cpu_share !== undefined) ? { cpu_share: spread(finite(runs.map((r) => r.cpu_share))) } : {}),
    ...(runs.some((r) => r.recovery_s)
      ? {
          // a change never recovered from counts as infinitely slow, so the spread shows it
          recovery_s: Object.fromEntries(
            CHANGES.map((c) => [c, spread(runs.map((r) => r.recovery_s?.[c] ?? Infinity))]),
          ) as Record<Change, Spread | null>,
        }
      : {}),
  };
  return { ...figures, met: goalMet(key, figures) };
}

function otherFigures(f: SourceFigures): string {
  const parts: string[] = [];
  if (f.time_ratio !== undefined) parts.push(`time ×${formatSpread(f.time_ratio ?? null, 2)} of calm`);
  if (f.wrongly_failed !== undefined) parts.push(`${f.wrongly_failed} wrongly failed`);
  if (f.cpu_share !== undefined) parts.push(`CPU ${formatSpread(f.cpu_share ?? null, 3)} of a core`);
  if (f.recovery_s) parts.push(CHANGES.map((c) => `${c} ${formatSpread(f.recovery_s![c], 1)} s`).join(', '));
  return parts.join('; ');
}

/** The block printed after the summary table: one line per source, the goal and the verdict beside it. */
export function formatPacingMatrix(sources: readonly SourceFigures[]): string {
  const runs = Math.max(0, ...sources.map((s) => s.runs.length));
  const headers = ['source', 'goal', 'share of limit', '429 share', 'other', ''];
  const rows = sources.map((s) => [
    `${s.key}: ${s.source}`,
    s.goal,
    formatSpread(s.share_of_limit),
    formatSpread(s.rate_limited_share),
    otherFigures(s),
    s.met ? 'pass' : 'MISS',
  ]);
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    `pacing_matrix: learned pacing from a cold start, median of ${runs} run${runs === 1 ? '' : 's'} (min–max); a MISS does not fail the run`,
    line(headers),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}
