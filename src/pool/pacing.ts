/**
 * Pacing for one proxy: how fast to send through it and when it must rest, learned from its answers.
 *
 * Pure: the clock is an argument and the state a small JSON object (Postgres keeps it in a jsonb column between
 * events, and every worker process reads and writes the same one), so the algorithm is proven on simulated time.
 *
 * The source limits each client address with rules it does not state (a token bucket, fixed or sliding windows,
 * several at once) and also answers a share of requests 429 at random, whatever the pace. Slowing down helps
 * against the first and costs throughput for nothing against the second, so the algorithm has to tell them apart.
 *
 * The rate (AIMD with probing, as TCP does it):
 * - Nothing is learned until a 429 says so: a fresh proxy sends as fast as its in-flight cap allows.
 * - A 429 that depends on the pace backs the proxy off to 0.85 of the rate it was sending at; that rate is
 *   remembered as the ceiling. Successes bring it back quickly to 0.95 of the ceiling, then probe above it: the
 *   step starts tiny (0.1% a success, so a limit that stays put is met rarely and 429s stay rare) and doubles
 *   every 30 successes without a 429 (so a limit that was lifted or rose is found within seconds of successes).
 *   A proxy that does not send at 80% of its rate or more probes nothing: an idle rate does not creep up untested.
 * - After a long rest without Retry-After that ends (the first limit met, or refusals that outlasted a rest), the
 *   rate the source sustained over the whole stretch (successes since the previous rest, over the time up to the
 *   first success after this one) caps the rate. That finds a window of 20 requests per 11 minutes in one step
 *   instead of ten halvings, each costing a penalty of minutes. Not when a success to a request sent after the
 *   refusals interrupted them: the source was not closed, and a stretch cut short by random 429s measures nothing.
 *
 * Pace-dependent or random (the trial):
 * - Each back-off is a trial: the next 30 answers to requests sent after it are counted (429s of requests in
 *   flight during a rest too: they count in the share though they teach the rest nothing). When 429s keep coming at
 *   the lower rate (3 or more, at half the share seen before or more), slowing down did not help: the 429s are
 *   random, the back-off is undone and their share is remembered as the noise share. Otherwise the limit is
 *   confirmed, as it is at once when refusals in a row outlast a rest. Only one back-off per trial, so a burst of
 *   429s is one back-off, not a spiral.
 * - While the recent share of 429s stays within the noise share (plus a margin), a 429 is noise (without
 *   Retry-After, while its row below does not show the source closed): no back-off and no rest. Resting does not
 *   lower a share that does not depend on the pace; with 30% random 429s, resting a second on each would cut
 *   throughput to a third. When the share rises above it, the pace is at fault again.
 *
 * Closed or random (refusals in a row, for 429s without Retry-After):
 * - A closed source (a full sliding window, an empty bucket) refuses every request until it clears; random 429s
 *   refuse a share of them, and the requests around them succeed. So the refusals are counted in a row, in send
 *   order: a success to a request sent no earlier than the first of them ends the row, and a refusal to a request
 *   sent no later than one that succeeded is not in it (and rests nothing: the source accepted a later request).
 * - The row shows the source closed once random 429s would explain it less than once in 100,000 rows: at a share
 *   p (the noise share, or the likely share of random 429s: answers that began a row, over recent answers, counted
 *   generously while they are few) that is log(1e-5) / log(p) refusals, up to 12: 3 at 2%, 10 at 30%. With
 *   nothing refused yet and fewer than 8 answers, one: a fresh proxy's first 429 is more likely a limit; after a
 *   429 among so few answers, 4.
 * - Closed, the proxy rests long (below), and the noise share is forgotten: random 429s did not explain the row.
 *
 * Rests:
 * - A Retry-After is the source's word: followed, clamped to maxRestMs; only a short one (5 s at most) on a 429
 *   shown random is not (see above). A rest of 10 s or more ends the measured pace: the sends before it say nothing
 *   of the pace after it.
 * - Without one, a refusal in a row that does not show the source closed rests one interval (none while nothing is
 *   learned), twice as long for each further refusal in the row, at most cooldownMs: a probe that met a known
 *   ceiling overshot it by a hair, and a random 429 needs no rest. One send follows each such rest at slow rates,
 *   and few at fast ones: a sliding window counts refused sends too, so checks must stay rare.
 * - A row that shows the source closed rests cooldownMs; a refusal again on the first send after that rest means
 *   it was too short: twice as long, up to maxRestMs, until a send after a rest succeeds.
 * - A 429 to a request sent before the current rest ended (it was in flight, or the rest was not yet known to its
 *   sender) does not extend a long rest: it only counts in the row, and may show the source closed during a
 *   short one.
 *
 * The floor minIntervalMs always applies: the interval is the larger of it and 1 / the learned rate.
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

const TUNING = {
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

/** Called once per answered request, in any order (requests overlap; `sentAtMs` says when each left). */
export function observe(state: PacingState, event: PacingEvent, nowMs: number, settings: PacingSettings): PacingDecision {
  const s = copy(state);
  if (!sentBeforeLongRest(s, event.sentAtMs)) s.sends = rememberSend(s.sends, event.sentAtMs);
  let note: string | undefined;
  if (event.kind === 'success') note = onSuccess(s, event.sentAtMs);
  else if (event.kind === 'rate_limited') note = onRateLimited(s, event, nowMs, settings);
  return { state: s, restUntilMs: s.rest && s.rest.untilMs > nowMs ? s.rest.untilMs : null, ...(note ? { note } : {}) };
}

/** The interval between two sends through the proxy now, ms (0 = as fast as its in-flight cap allows). */
export function sendIntervalMs(state: PacingState, settings: PacingSettings): number {
  const learned = state.ratePerS ? 1000 / state.ratePerS : 0;
  return Math.max(settings.minIntervalMs, learned);
}

/** The learned rate for display (requests/s), null while nothing is learned. */
export function learnedRatePerS(state: PacingState): number | null {
  return state.ratePerS;
}

function onSuccess(s: PacingState, sentAtMs: number): string | undefined {
  recordShare(s, false, false);
  const trialNote = countForTrial(s, sentAtMs, false);
  const restNote = proveRest(s, sentAtMs);
  s.acceptedSentMs = Math.max(s.acceptedSentMs ?? sentAtMs, sentAtMs);
  // the source accepted a request sent after it refused one: it was not closed
  if (s.refusals && sentAtMs >= s.refusals.sinceMs) {
    s.refusals = null;
    if (s.rest && !s.rest.proven) s.rest.unbroken = false;
  }
  if (!s.streak) s.streak = { sinceMs: sentAtMs, successes: 0 };
  if (sentAtMs >= s.streak.sinceMs) s.streak.successes += 1;
  if (s.rateSinceMs === null || sentAtMs >= s.rateSinceMs) grow(s);
  return trialNote ?? restNote;
}

function onRateLimited(
  s: PacingState,
  event: { sentAtMs: number; retryAfterMs?: number },
  nowMs: number,
  settings: PacingSettings,
): string | undefined {
  const refusals = event.retryAfterMs === undefined ? countRefusal(s, event.sentAtMs, refusalsNeeded(s)) : null;
  recordShare(s, true, refusals?.count === 1);
  const trialNote = countForTrial(s, event.sentAtMs, true);
  if (event.retryAfterMs !== undefined) return onRetryAfter(s, event.sentAtMs, event.retryAfterMs, trialNote, nowMs, settings);
  if (!refusals) return trialNote; // a request sent as late or later was accepted: not a refusal in a row
  const r = s.rest;
  const closed = refusals.count >= refusals.needed;
  // in flight when the rest began (or sent before its sender knew of it): the rest already answers it, unless its
  // refusal is the one that shows the source closed during a short rest
  if (r && event.sentAtMs < r.untilMs && (r.confirmed || !closed)) return trialNote;
  if (!closed) {
    if (!s.trial && isNoise(s)) return `random 429 (${pct(s.share429)} of answers, as at lower rates): no rest`;
    const backoffNote = s.trial ? undefined : backOff(s, nowMs);
    const restNote = startUnguidedRest(s, 'check', nowMs, settings);
    return [trialNote, backoffNote, restNote].filter(Boolean).join('; ');
  }
  const outlasted = refusals.count > 1;
  if (outlasted) s.trial = null; // the limit is confirmed: it outlasted a rest
  s.noiseShare = null; // random 429s did not explain these refusals
  const backoffNote = s.trial || outlasted ? undefined : backOff(s, nowMs);
  const restNote = startUnguidedRest(s, outlasted ? 'outlasted' : 'closed', nowMs, settings);
  return [trialNote, backoffNote, restNote].filter(Boolean).join('; ');
}

function onRetryAfter(
  s: PacingState,
  sentAtMs: number,
  retryAfterMs: number,
  trialNote: string | undefined,
  nowMs: number,
  settings: PacingSettings,
): string | undefined {
  if (s.rest && sentAtMs < s.rest.untilMs) return trialNote;
  // a short Retry-After on a random 429 costs a rest for nothing; a long one is the source's word, always followed
  if (trialNote === undefined && isNoise(s) && retryAfterMs <= TUNING.ignorableRetryAfterMs) {
    return `random 429 (${pct(s.share429)} of answers, as at lower rates): no rest`;
  }
  const backoffNote = s.trial ? undefined : backOff(s, nowMs);
  const ms = Math.min(Math.max(0, retryAfterMs), settings.maxRestMs);
  s.rest = { startMs: nowMs, untilMs: nowMs + ms, unguidedMs: 0, proven: false, confirmed: true, unbroken: true, outlasted: false };
  if (ms >= TUNING.longRestMs) s.sends = []; // the pace before a long rest is not the one after it
  return [trialNote, backoffNote, `rest ${seconds(ms)} (Retry-After)`].filter(Boolean).join('; ');
}

/** Counts a refusal in the current row of refusals, or starts one; null when a request sent no earlier succeeded. */
function countRefusal(s: PacingState, sentAtMs: number, needed: number): PacingRefusals | null {
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
function refusalsNeeded(s: PacingState): number {
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

/** The recent share of 429s is within what random 429s explain. */
function isNoise(s: PacingState): boolean {
  if (s.trial || s.noiseShare === null) return false;
  const margin = Math.max(0.05, 0.5 * s.noiseShare);
  return s.share429 <= s.noiseShare + margin;
}

function backOff(s: PacingState, nowMs: number): string | undefined {
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
function countForTrial(s: PacingState, sentAtMs: number, limited: boolean): string | undefined {
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

/**
 * Why a rest without Retry-After starts: a refusal the source may not repeat (a short check), the source closed
 * (refusals in a row), or closed after a rest (the refusals outlasted it).
 */
type RestCause = 'check' | 'closed' | 'outlasted';

function startUnguidedRest(s: PacingState, cause: RestCause, nowMs: number, settings: PacingSettings): string {
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
function proveRest(s: PacingState, sentAtMs: number): string | undefined {
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

/** Additive recovery to just under the ceiling, then probing above it with a step that grows while it succeeds. */
function grow(s: PacingState): void {
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

function recordShare(s: PacingState, limited: boolean, beganRow: boolean): void {
  s.share429 += TUNING.shareWeight * ((limited ? 1 : 0) - s.share429);
  s.rowShare += TUNING.shareWeight * ((beganRow ? 1 : 0) - s.rowShare);
  s.answers = Math.min(TUNING.shareSpan, s.answers + 1);
}

/** Sent before a long rest without Retry-After began: its send time says nothing of the pace after it. */
function sentBeforeLongRest(s: PacingState, sentAtMs: number): boolean {
  return !!s.rest && s.rest.confirmed && s.rest.unguidedMs > 0 && sentAtMs < s.rest.startMs;
}

function rememberSend(sends: number[], sentAtMs: number): number[] {
  const next = [...sends, sentAtMs].sort((a, b) => a - b);
  return next.slice(-TUNING.sendMemory);
}

function clampRate(r: number): number {
  return Math.min(TUNING.maxRatePerS, Math.max(TUNING.minRatePerS, r));
}

/** A copy to change; fields a stored state from before them lacks take their fresh value. */
function copy(state: PacingState): PacingState {
  return { ...newPacingState(), ...(JSON.parse(JSON.stringify(state)) as PacingState) };
}

const rate = (r: number) => (r >= 1 ? `${r.toFixed(1)}/s` : `${(r * 60).toFixed(2)}/min`);
const pct = (x: number) => `${Math.round(x * 100)}%`;
const seconds = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);
