/**
 * The learned rate of one proxy's pacing (src/pool/pacing.ts, "The rate" and "Pace-dependent or random"): backing
 * off, the trial that tells a pace-dependent 429 from a random one, and the recovery and probing after it.
 */
import { clampRate, pct, rate, TUNING, type PacingState } from './pacing-state.js';

/** The recent share of 429s is within what random 429s explain. */
export function isNoise(s: PacingState): boolean {
  if (s.trial || s.noiseShare === null) return false;
  const margin = Math.max(0.05, 0.5 * s.noiseShare);
  return s.share429 <= s.noiseShare + margin;
}

export function backOff(s: PacingState, nowMs: number): string | undefined {
  const sending = sendingRatePerS(s);
  if (sending === null) return undefined; // one send measures no rate
  s.trial = {
    atMs: nowMs,
    shareBefore: s.share429,
    answers: 0,
    limited: 0,
    rateBefore: s.ratePerS,
    ceilingBefore: s.ceilingPerS,
  };
  s.ceilingPerS = sending;
  s.ratePerS = clampRate(sending * TUNING.backoff);
  s.probeStep = TUNING.probeStepMin;
  s.probeSuccesses = 0;
  s.rateSinceMs = nowMs;
  return `backed off to ${rate(s.ratePerS)}`;
}

/** Counts an answer in the running trial; concludes it after enough answers. */
export function countForTrial(s: PacingState, sentAtMs: number, limited: boolean): string | undefined {
  const t = s.trial;
  if (!t || sentAtMs < t.atMs) return undefined;
  t.answers += 1;
  if (limited) t.limited += 1;
  if (t.answers < TUNING.trialAnswers) return undefined;
  s.trial = null;
  const shareAfter = t.limited / t.answers;
  if (t.limited >= TUNING.trialMinLimited && shareAfter >= 0.5 * t.shareBefore) {
    s.noiseShare = s.noiseShare === null ? shareAfter : (s.noiseShare + shareAfter) / 2;
    s.share429 = s.noiseShare;
    s.ratePerS = t.rateBefore;
    s.ceilingPerS = t.ceilingBefore;
    return `${pct(shareAfter)} 429s at a lower rate too: random, back to ${t.rateBefore === null ? 'no limit' : rate(t.rateBefore)}`;
  }
  if (s.noiseShare !== null && shareAfter < 0.5 * s.noiseShare) s.noiseShare = shareAfter > 0 ? shareAfter : null;
  return undefined;
}

/** Additive recovery to just under the ceiling, then probing above it with a step that grows while it succeeds. */
export function grow(s: PacingState): void {
  if (s.ratePerS === null) return;
  const sending = sendingRatePerS(s);
  if (sending === null || sending < TUNING.busyShare * s.ratePerS) return;
  const target = s.ceilingPerS === null ? 0 : TUNING.approach * s.ceilingPerS;
  if (s.ratePerS < target) {
    s.ratePerS = Math.min(target, s.ratePerS * TUNING.recover);
    return;
  }
  s.ratePerS = clampRate(s.ratePerS * (1 + s.probeStep));
  s.probeSuccesses += 1;
  if (s.probeSuccesses >= TUNING.probeStage) {
    s.probeStep = Math.min(TUNING.probeStepMax, s.probeStep * 2);
    s.probeSuccesses = 0;
  }
}

/** The rate the proxy actually sent at lately (its send times), capped by its learned rate; null: too few sends. */
function sendingRatePerS(s: PacingState): number | null {
  const n = s.sends.length;
  const first = s.sends[0];
  const last = s.sends[n - 1];
  if (n < TUNING.minSendsMeasured || first === undefined || last === undefined) return s.ratePerS;
  const measured = (n - 1) / Math.max(0.001, (last - first) / 1000);
  return s.ratePerS === null ? measured : Math.min(measured, s.ratePerS);
}
