/**
 * The rests of one proxy's pacing (src/pool/pacing.ts, "Closed or random" and "Rests"): the refusals in a row that
 * show the source closed, how long a rest without Retry-After lasts, and the rate a proven rest measured.
 */
import { clampRate, rate, seconds, sendIntervalMs, TUNING, type PacingRefusals, type PacingSettings, type PacingState } from './pacing-state.js';

/** Counts a refusal in the current row of refusals, or starts one; null when a request sent no earlier succeeded. */
export function countRefusal(s: PacingState, sentAtMs: number, needed: number): PacingRefusals | null {
  if (s.acceptedSentMs !== null && sentAtMs <= s.acceptedSentMs) return null;
  const row = s.refusals ?? { sinceMs: sentAtMs, count: 0, needed };
  row.sinceMs = Math.min(row.sinceMs, sentAtMs);
  row.count += 1;
  s.refusals = row;
  return row;
}

/**
 * How many refusals in a row show the source closed: as many as random 429s at the share seen so far (or shown
 * random) would explain less than once in REFUSALS_CHANCE. Nothing refused yet: one.
 */
export function refusalsNeeded(s: PacingState): number {
  if (s.answers < TUNING.minSendsMeasured) return s.share429 > 0 ? TUNING.fewAnswersRefusalsNeeded : 1;
  const share = Math.max(s.noiseShare ?? 0, likelyShare(s));
  if (share >= 1) return TUNING.maxRefusalsNeeded;
  const n = Math.ceil(Math.log(TUNING.refusalsChance) / Math.log(share));
  return Math.min(TUNING.maxRefusalsNeeded, Math.max(1, n));
}

/**
 * The share of random 429s as high as the answers so far make likely: rowShare without the pull towards its start
 * (0) that a moving average has over its first answers, and with one more than seen (the rule of succession: a
 * handful of answers says little).
 */
function likelyShare(s: PacingState): number {
  const n = s.answers;
  const seen = n > 0 ? s.rowShare / (1 - Math.pow(1 - TUNING.shareWeight, n)) : 0;
  const rows = Math.min(0.25, (seen * n + 1) / (n + 2));
  // random 429s at a share p begin rows at p (1 - p) of answers
  return (1 - Math.sqrt(1 - 4 * rows)) / 2;
}
/**
 * Why a rest without Retry-After starts: a refusal the source may not repeat (a short check), the source closed
 * (refusals in a row), or closed after a rest (the refusals outlasted it).
 */
export type RestCause = 'check' | 'closed' | 'outlasted';

export function startUnguidedRest(s: PacingState, cause: RestCause, nowMs: number, settings: PacingSettings): string {
  const tooShortMs = tooShortRestMs(s);
  const ms = unguidedRestMs(s, cause, tooShortMs, settings);
  const confirmed = cause !== 'check';
  s.rest = { startMs: nowMs, untilMs: nowMs + ms, unguidedMs: ms, proven: false, confirmed, unbroken: true, outlasted: cause === 'outlasted' };
  if (confirmed) s.sends = []; // the pace before a long rest is not the one after it
  if (!confirmed) return ms > 0 ? `rest ${seconds(ms)} after ${s.refusals?.count ?? 1} refusal(s) in a row` : '';
  return tooShortMs > 0 ? `rest ${seconds(ms)}: the last rest was too short` : `rest ${seconds(ms)} without Retry-After`;
}

/** The length of the current long rest without Retry-After when no send after it has succeeded yet; 0: none. */
function tooShortRestMs(s: PacingState): number {
  const r = s.rest;
  return r && r.confirmed && r.unguidedMs > 0 && !r.proven ? r.unguidedMs : 0;
}

/**
 * A refusal may be random, or a probe that overshot a known limit by a hair (the source frees a place within
 * about an interval): a check rests one interval, twice as long for each further refusal in a row (a sliding
 * window counts refused sends too, so checks must thin out), never longer than the cooldown. Closed, the source
 * rests the cooldown, twice as long each time a long rest proves too short.
 */
function unguidedRestMs(s: PacingState, cause: RestCause, tooShortMs: number, settings: PacingSettings): number {
  if (cause === 'check') {
    const checks = Math.pow(2, Math.max(0, (s.refusals?.count ?? 1) - 1));
    return Math.min(settings.cooldownMs, checks * TUNING.checkRestIntervals * sendIntervalMs(s, settings));
  }
  return Math.min(tooShortMs < settings.cooldownMs ? settings.cooldownMs : 2 * tooShortMs, settings.maxRestMs);
}

/** A success sent after the rest ended proves it long enough; the rate the source sustained caps the learned one. */
export function proveRest(s: PacingState, sentAtMs: number): string | undefined {
  const r = s.rest;
  if (!r || r.proven || sentAtMs < r.untilMs) return undefined;
  r.proven = true;
  const streak = s.streak;
  s.streak = { sinceMs: sentAtMs, successes: 0 };
  // Only a first limit, or one that outlasted a rest, is measured this way: a Retry-After said how long the source
  // needed, and a rest that was long enough at once is the back-off's business.
  // Refusals in a row that a success to a later request interrupted were not a closed source.
  const measured = r.confirmed && r.unguidedMs > 0 && r.unbroken && (s.ratePerS === null || s.ceilingPerS === null || r.outlasted);
  if (!streak || streak.successes === 0 || !measured) return undefined;
  const sustained = streak.successes / Math.max(0.001, (sentAtMs - streak.sinceMs) / 1000);
  if (s.ratePerS !== null && s.ratePerS <= sustained) return undefined;
  s.ratePerS = clampRate(sustained);
  s.ceilingPerS = Math.max(sustained, Math.min(s.ceilingPerS ?? sustained, sustained / TUNING.backoff));
  return `the source sustained ${rate(sustained)}: pacing at that`;
}

/** Sent before a long rest without Retry-After began: its send time says nothing of the pace after it. */
export function sentBeforeLongRest(s: PacingState, sentAtMs: number): boolean {
  return !!s.rest && s.rest.confirmed && s.rest.unguidedMs > 0 && sentAtMs < s.rest.startMs;
}
