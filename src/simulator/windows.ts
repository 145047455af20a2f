/**
 * Request windows per client address, several at once, as the real source counts them (docs/upstream.md, "How the
 * real source behaves"): e.g. 20 requests per 11 minutes AND 200 per hour, sliding, and lower limits for
 * requests without a session. Every request is recorded, the refused ones too, so an address that keeps
 * sending while limited keeps itself limited. Pure: the clock is an argument, nothing is read or written
 * outside the instance.
 */

export type WindowKind = 'sliding' | 'fixed';

export interface LimitWindow {
  /** Requests allowed within one window. */
  requests: number;
  /** The window's length in the source's time (divided by `timeScale` when applied). */
  windowMs: number;
  /** sliding: the last `windowMs` before each request; fixed: periods of `windowMs` from the epoch. */
  kind: WindowKind;
}

export interface WindowSettings {
  /** The limits of requests with a session (and of logged-out ones when `loggedOutWindows` is null). */
  windows: readonly LimitWindow[];
  /** The limits of requests without a session; null: the same as `windows`. */
  loggedOutWindows: readonly LimitWindow[] | null;
  /** Divides every window length: 60 plays an 11-minute window in 11 s. */
  timeScale: number;
}

export type WindowVerdict = { limited: false } | { limited: true; /** Seconds until a request would be allowed, if none is sent meanwhile. */ waitS: number };

const ALLOWED: WindowVerdict = { limited: false };

export class WindowLimiter {
  /** Per address, the times of its newest requests, oldest first: as many as the largest window allows. */
  readonly #sent = new Map<string, number[]>();

  /** Records a request from `address` at `nowMs` and says whether it is over one of its limits. */
  take(address: string, nowMs: number, settings: WindowSettings, loggedOut = false): WindowVerdict {
    const keep = Math.max(0, ...settings.windows.map((w) => w.requests), ...(settings.loggedOutWindows ?? []).map((w) => w.requests));
    if (keep === 0) return ALLOWED;
    const windows = (loggedOut ? settings.loggedOutWindows : null) ?? settings.windows;
    const sent = this.#sent.get(address) ?? [];
    this.#sent.set(address, sent);

    const limited = windows.some((w) => countIn(sent, w, nowMs, settings.timeScale) >= w.requests);
    record(sent, nowMs, keep);
    if (!limited) return ALLOWED;
    const waitMs = Math.max(...windows.map((w) => msUntilBelow(sent, w, nowMs, settings.timeScale)));
    return { limited: true, waitS: waitMs / 1000 };
  }

  /** Forgets every address's requests. */
  clear(): void {
    this.#sent.clear();
  }
}

/**
 * The spacing between requests of one address that never trips any of these windows (the sustained pace),
 * in real milliseconds; 0 without windows.
 */
export function sustainedIntervalMs(windows: readonly LimitWindow[], timeScale: number): number {
  return Math.max(0, ...windows.map((w) => w.windowMs / timeScale / w.requests));
}

function lengthOf(w: LimitWindow, timeScale: number): number {
  return w.windowMs / timeScale;
}

/** How many of the recorded times (oldest first) `w` counts at `nowMs`: always the newest part of the record. */
function countIn(sent: readonly number[], w: LimitWindow, nowMs: number, timeScale: number): number {
  const length = lengthOf(w, timeScale);
  const counts =
    w.kind === 'fixed'
      ? (t: number) => t >= Math.floor(nowMs / length) * length
      : (t: number) => t > nowMs - length;
  let n = 0;
  for (let i = sent.length - 1; i >= 0 && counts(sent[i]!); i--) n++;
  return n;
}

function record(sent: number[], nowMs: number, keep: number): void {
  sent.push(nowMs);
  // an injected clock may step back; the counting needs the times in order
  if (sent.length > 1 && sent[sent.length - 2]! > nowMs) sent.sort((a, b) => a - b);
  if (sent.length > keep) sent.splice(0, sent.length - keep);
}

/** Milliseconds from `nowMs` until `w` holds fewer than its limit, with what is recorded now. */
function msUntilBelow(sent: readonly number[], w: LimitWindow, nowMs: number, timeScale: number): number {
  const length = lengthOf(w, timeScale);
  if (countIn(sent, w, nowMs, timeScale) < w.requests) return 0;
  if (w.kind === 'fixed') return Math.floor(nowMs / length) * length + length - nowMs;
  // sliding: below the limit once the request `requests` places from the newest has left the window
  const leaving = sent[sent.length - w.requests]!;
  return leaving + length - nowMs;
}
