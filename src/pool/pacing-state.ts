/**
 * The state of one proxy's pacing (src/pool/pacing.ts), its settings and tuning, and the small steps every part
 * of the algorithm shares. A state is plain JSON: Postgres keeps it in proxies.pacing between events.
 */

export interface PacingSettings {
  /** PROXY_MIN_INTERVAL_MS: a floor under the interval (0 = none). */
  minIntervalMs: number;
  /** PROXY_COOLDOWN_MS: the first long rest after 429s without Retry-After that show the source closed (default 60_000). */
  cooldownMs: number;
  /** Longest rest ever (24 h). */
  maxRestMs: number;
  /** PROXY_MAX_IN_FLIGHT: requests at once through the proxy (the interval is not the only limit). */
  maxInFlight: number;
}

/** A back-off under evaluation: answers to requests sent after it say whether slowing down helped. */
export type PacingTrial = {
  atMs: number;
  shareBefore: number;
  answers: number;
  limited: number;
  rateBefore: number | null;
  ceilingBefore: number | null;
};

export type PacingRest = {
  startMs: number;
  untilMs: number;
  /** The length of this rest when no Retry-After set it (escalation doubles it); 0 when one did. */
  unguidedMs: number;
  /** A request sent after the rest ended succeeded. */
  proven: boolean;
  /** The refusals in a row showed the source closed (a long rest), rather than a short check after one refusal. */
  confirmed: boolean;
  /** No success to a request sent after the refusals that began it has interrupted them (yet). */
  unbroken: boolean;
  /** The source refused more than one send in a row before it: a rest, or the pace, did not clear it. */
  outlasted: boolean;
};

/** Refusals in a row, in send order: no request sent since the first of them succeeded. */
export type PacingRefusals = {
  /** When the first of them was sent. */
  sinceMs: number;
  count: number;
  /** How many in a row random 429s would hardly explain: the source is closed once they come. */
  needed: number;
};

export type PacingState = {
  v: 1;
  /** Learned rate (requests/s); null: none learned, the in-flight cap is the only limit. */
  ratePerS: number | null;
  /** The rate at which the pace last drew a 429. */
  ceilingPerS: number | null;
  /** Multiplicative step per success when probing above the ceiling. */
  probeStep: number;
  probeSuccesses: number;
  /** The latest send times (ascending, at most SEND_MEMORY): the rate the proxy actually sends at. */
  sends: number[];
  /** Recent share of 429s among answers (moving average). */
  share429: number;
  /** Recent share of answers that began a row of refusals (moving average): random 429s each count, a closed source once. */
  rowShare: number;
  /** Answers counted in the moving shares, up to shareSpan (while fewer, rowShare is corrected for its start). */
  answers: number;
  /** The share of 429s shown not to depend on the pace; null when none was seen. */
  noiseShare: number | null;
  trial: PacingTrial | null;
  rest: PacingRest | null;
  refusals: PacingRefusals | null;
  /** The latest send time of a request the source accepted. */
  acceptedSentMs: number | null;
  /** Successes since the last rest was proven over, from the send of the first of them. */
  streak: { sinceMs: number; successes: number } | null;
  /** Answers to requests sent before this time say nothing about the current rate. */
  rateSinceMs: number | null;
};

export type PacingEvent =
  | { kind: 'success'; sentAtMs: number }
  | { kind: 'rate_limited'; sentAtMs: number; retryAfterMs?: number }
  /** Answered, but the answer says nothing about the pace (5xx, missing profile, session refused...). */
  | { kind: 'other'; sentAtMs: number };

export interface PacingDecision {
  state: PacingState;
  /** Rest the proxy until this time (ms since epoch), or null: no rest. */
  restUntilMs: number | null;
  /** Why, for a log line, when something changed (e.g. 'backed off to 2.1/s', 'rest 120 s without Retry-After'). */
  note?: string;
}

export const TUNING = {
  /** A Retry-After no longer than this on a 429 shown random is not followed (a rest that helps nothing). */
  ignorableRetryAfterMs: 5_000,
  /** A rest at least this long ends the measured pace: sends before it say nothing of the pace after it. */
  longRestMs: 10_000,
  backoff: 0.85,
  approach: 0.95,
  recover: 1.02,
  probeStepMin: 0.001,
  probeStepMax: 0.05,
  /** Successes at one probe step before it doubles. */
  probeStage: 30,
  /** A proxy probes only while it sends at this share of its rate or more. */
  busyShare: 0.8,
  /** A rest after one refusal without Retry-After lasts this many intervals (at most the cooldown). */
  checkRestIntervals: 1,
  /** Refusals in a row show the source closed once random 429s would explain them less often than this. */
  refusalsChance: 1e-5,
  maxRefusalsNeeded: 12,
  /** Refusals in a row that show the source closed while too few answers measure a share (after one 429 among them). */
  fewAnswersRefusalsNeeded: 4,
  trialAnswers: 30,
  trialMinLimited: 3,
  /** Weight of one answer in the moving share of 429s. */
  shareWeight: 1 / 50,
  /** Past this many answers the moving share has forgotten its start. */
  shareSpan: 500,
  /** Fewer sends than this measure no rate (the first ones leave together, as fast as the in-flight cap allows). */
  minSendsMeasured: 8,
  sendMemory: 16,
  minRatePerS: 0.0001,
  maxRatePerS: 10_000,
} as const;

export function newPacingState(): PacingState {
  return {
    v: 1,
    ratePerS: null,
    ceilingPerS: null,
    probeStep: TUNING.probeStepMin,
    probeSuccesses: 0,
    sends: [],
    share429: 0,
    rowShare: 0,
    answers: 0,
    noiseShare: null,
    trial: null,
    rest: null,
    refusals: null,
    acceptedSentMs: null,
    streak: null,
    rateSinceMs: null,
  };
}

/** The interval between two sends through the proxy now, ms (0 = as fast as its in-flight cap allows). */
export function sendIntervalMs(state: PacingState, settings: PacingSettings): number {
  const learned = state.ratePerS ? 1000 / state.ratePerS : 0;
  return Math.max(settings.minIntervalMs, learned);
}

export function recordShare(s: PacingState, limited: boolean, beganRow: boolean): void {
  s.share429 += TUNING.shareWeight * ((limited ? 1 : 0) - s.share429);
  s.rowShare += TUNING.shareWeight * ((beganRow ? 1 : 0) - s.rowShare);
  s.answers = Math.min(TUNING.shareSpan, s.answers + 1);
}

export function rememberSend(sends: number[], sentAtMs: number): number[] {
  const next = [...sends, sentAtMs].sort((a, b) => a - b);
  return next.slice(-TUNING.sendMemory);
}

export function clampRate(r: number): number {
  return Math.min(TUNING.maxRatePerS, Math.max(TUNING.minRatePerS, r));
}

/** A copy to change; fields a stored state from before them lacks take their fresh value. */
export function copy(state: PacingState): PacingState {
  return { ...newPacingState(), ...(JSON.parse(JSON.stringify(state)) as PacingState) };
}

export const rate = (r: number) => (r >= 1 ? `${r.toFixed(1)}/s` : `${(r * 60).toFixed(2)}/min`);
export const pct = (x: number) => `${Math.round(x * 100)}%`;
export const seconds = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);
