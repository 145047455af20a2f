/**
 * The block printed after the summary table for the `realistic` scenario (bench/realistic.ts). Pure, so that
 * tests/unit/bench-format.test.ts covers it.
 */
import type { ScenarioFigures } from './figures.js';

export interface RealisticExtras {
  time_scale: number;
  physical_limit_s: number;
  requests: number;
  rate_limited: number;
  rate_limited_by: { bucket: number; window: number; random: number };
  rate_limited_share: number;
  sessions: number;
  sessions_invalidated: number;
  sessions_recovered: number;
  sessions_at_end: Record<string, number>;
  operator_clears: number;
  failed: number;
  wrongly_failed: number;
  wrongly_answered: number;
}

export function formatRealistic(s: ScenarioFigures & RealisticExtras): string {
  const at = Object.entries(s.sessions_at_end)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  const zeroWrong = s.wrongly_failed === 0;
  return [
    `realistic: a first check of ${s.profiles} profiles, ${s.proxies} proxies, ${s.sessions} sessions, the realistic source ×${s.time_scale}`,
    `  time       ${s.seconds} s against a physical limit of ${s.physical_limit_s} s (ratio ${s.ratio_to_ideal ?? '-'})`,
    `  429s       ${s.rate_limited} of ${s.requests} requests (${(s.rate_limited_share * 100).toFixed(1)}%): ` +
      `window ${s.rate_limited_by.window}, random ${s.rate_limited_by.random}, bucket ${s.rate_limited_by.bucket}`,
    `  sessions   ${s.sessions_invalidated} invalidated, ${s.sessions_recovered} recovered (checkpoints cleared ${s.operator_clears} times); at the end ${at || 'none'}`,
    `  profiles   ${s.failed} failed, ${s.wrongly_failed} wrongly (goal 0: ${zeroWrong ? 'pass' : 'MISS'}); ${s.wrongly_answered} answers contradict the source's truth`,
  ].join('\n');
}
