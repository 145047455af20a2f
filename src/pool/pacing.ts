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

import { backOff, countForTrial, grow, isNoise } from './pacing-rate.js';
import { countRefusal, proveRest, refusalsNeeded, sentBeforeLongRest, startUnguidedRest } from './pacing-rests.js';
import { copy, pct, recordShare, rememberSend, seconds, TUNING, type PacingDecision, type PacingEvent, type PacingSettings, type PacingState } from './pacing-state.js';

export { newPacingState, sendIntervalMs } from './pacing-state.js';
export type { PacingDecision, PacingEvent, PacingRefusals, PacingRest, PacingSettings, PacingState, PacingTrial } from './pacing-state.js';

/** Called once per answered request, in any order (requests overlap; `sentAtMs` says when each left). */
export function observe(state: PacingState, event: PacingEvent, nowMs: number, settings: PacingSettings): PacingDecision {
  const s = copy(state);
  if (!sentBeforeLongRest(s, event.sentAtMs)) s.sends = rememberSend(s.sends, event.sentAtMs);
  let note: string | undefined;
  if (event.kind === 'success') note = onSuccess(s, event.sentAtMs);
  else if (event.kind === 'rate_limited') note = onRateLimited(s, event, nowMs, settings);
  return { state: s, restUntilMs: s.rest && s.rest.untilMs > nowMs ? s.rest.untilMs : null, ...(note ? { note } : {}) };
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
