/**
 * The proxy pool's rows. A proxy is a rate, not a lock: a request reserves a send slot on a proxy (a row in
 * proxy_slots, counted in proxies.in_flight), waits for the slot's send time, sends, and hands the slot back
 * with the outcome. src/pool/pool.ts decides when to take a slot and how long to wait; this module states the
 * rules and the types, and the SQL that applies them is beside it: take-lease.ts, release-lease.ts, slot-queries.ts.
 *
 * Taking a slot:
 * - Candidates are proxies not disabled, not resting (rate_limited_until), with fewer than PROXY_MAX_IN_FLIGHT
 *   requests in flight and a next send time within the wait the caller accepts. The one whose next send time
 *   comes first wins (then the emptiest, then the least recently used), so requests spread over the pool and
 *   each proxy's schedule stays full.
 * - The slot's send time is the proxy's next_free_at (or now); next_free_at then advances by the proxy's send
 *   interval: the larger of PROXY_MIN_INTERVAL_MS and 1 / learned_rate_per_s. Send times through one proxy are
 *   therefore spaced by its rate whoever sends, in every worker process.
 * - `FOR UPDATE SKIP LOCKED` lets concurrent takers pick different proxies without waiting on each other, and
 *   the locked row's own in_flight decides exactly whether it has room.
 *
 * Outcomes on release (the slot row is deleted and in_flight lowered in the same transaction):
 * - success: success_count + 1, failure streak and blocked strikes reset; the session's refusal forgotten.
 * - rate_limited: the proxy rests as its pacing says (src/pool/pacing.ts: the Retry-After given, or a rest it
 *   chooses, longer each time a rest proved too short); PROXY_COOLDOWN logged. Not counted as a failure: the
 *   proxy works, it is only asked to slow down.
 * - upstream_unreachable: the proxy answered the CONNECT with a 5xx: it works, the upstream is down. It rests
 *   (PROXY_COOLDOWN_MS, PROXY_COOLDOWN logged) without a failure counted, so an outage never disables a pool.
 * - address_blocked: the source refused the proxy's address (403). The first time it rests (PROXY_COOLDOWN_MS,
 *   rest_reason 'blocked'); refused again before any other answer, it is disabled (disabled_reason 'blocked',
 *   PROXY_DISABLED logged) until the proxy-health schedule sees the source answer it otherwise.
 * - proxy_failure: failure_count + 1, streak + 1; at PROXY_MAX_CONSECUTIVE_FAILURES the proxy is disabled
 *   (disabled_reason 'failures') and PROXY_DISABLED logged. The proxy-health schedule probes it and
 *   re-enables it once it answers; one an operator disabled stays disabled.
 * - session_invalid: the session was refused. A checkpoint (or a token that cannot be sent) invalidates it at
 *   once; a login refusal only when it is the second for a different request (refused_subject), so one odd
 *   profile cannot cycle every session through invalid. SESSION_INVALIDATED logged; the proxy is not blamed.
 * - neutral: the request failed for a reason that is not the proxy's (upstream 5xx, profile not found), or was
 *   never sent: the slot is freed and nothing is counted. Counting those would disable healthy proxies during
 *   an upstream outage; resetting the streak would hide a proxy that fails only sometimes.
 *
 * Pacing: every answer of a request that was sent is shown to the proxy's pacing (src/pool/pacing.ts, a pure
 * module), whose state is kept in proxies.pacing and whose interval (proxies.pace_interval_ms, never below
 * PROXY_MIN_INTERVAL_MS) spaces the proxy's send times. The release locks the proxy row, so every worker's
 * answers reach one state in turn.
 *
 * Sessions: a request takes a valid session with room (fewer than SESSION_MAX_IN_FLIGHT requests in flight),
 * one paired with its proxy first, else an unpaired one, the emptiest and least recently used. While a valid
 * session exists, no request leaves without one: a proxy is not a candidate while every session it could use is
 * full. The session row is locked (waited for, never skipped), so concurrent takers never see it as missing.
 *
 * Secrets: a Lease carries the proxy password and session token for the request only. Nothing here puts them
 * in a batch log, and both are registered with `redact` as they are read.
 */
import type { RestReason, ProxyStatus } from '../enums.js';
import type { SessionRefusal } from '../upstream/errors.js';
import type { PacingSettings } from './pacing.js';


export interface Lease {
  proxyId: string;
  /** The reserved slot (a proxy_slots row): released exactly once, by its holder. */
  slotId: string;
  /** `scheme://host:port`, without credentials. */
  proxyUrl: string;
  proxyUsername: string | null;
  proxyPassword: string | null;
  sessionId: string | null;
  sessionToken: string | null;
  holder: string;
  /** When the request may leave: the proxy's schedule gave it this send time (now, or shortly after). */
  sendAt: Date;
  expiresAt: Date;
}

export type LeaseFailureReason = 'none_usable' | 'all_busy' | 'all_cooling_down';

export type LeaseResult =
  | { ok: true; lease: Lease }
  | {
      ok: false;
      /** When a proxy may next have a slot (rest over, schedule within reach); null when no proxy is usable at all. */
      retryAt: Date | null;
      /** none_usable: all disabled or none exist; all_busy: some proxy is merely full or paced; all_cooling_down: every one is resting. */
      reason: LeaseFailureReason;
      /** With all_cooling_down: 'upstream_unreachable' when every resting proxy rests because it could not reach the upstream. */
      restReason?: RestReason;
    };

export type ReleaseOutcome =
  | { kind: 'success' }
  | { kind: 'rate_limited'; retryAfterMs?: number }
  | { kind: 'proxy_failure'; message: string }
  /** The proxy works but could not reach the upstream (CONNECT answered 5xx): it rests, nothing is counted. */
  | { kind: 'upstream_unreachable'; message: string; restMs?: number }
  /** The source refused the proxy's address (403): it rests, and is disabled when refused again. */
  | { kind: 'address_blocked'; message: string }
  | { kind: 'session_invalid'; message?: string; refusal?: SessionRefusal }
  | { kind: 'neutral' };

/** How slots are handed out: the pool's settings. */
export interface SlotRules {
  /** Requests through one proxy at once (PROXY_MAX_IN_FLIGHT). */
  maxInFlight: number;
  /** The least interval between two sends through one proxy (PROXY_MIN_INTERVAL_MS; 0 = learned only). */
  minIntervalMs: number;
  /** Longest wait for a send time the taker accepts: a proxy whose schedule is further out is not a candidate. */
  maxWaitMs: number;
  /** Requests carried by one session at once (SESSION_MAX_IN_FLIGHT). */
  sessionMaxInFlight: number;
}

export interface ReleasedRow {
  id: string;
  url: string;
  status: ProxyStatus;
  old_status: ProxyStatus;
  consecutive_failures: number;
  rate_limited_until: Date | null;
  learned_rate_per_s: number | null;
  /** Why pacing changed with this answer, when it did. */
  pacing_note: string | null;
}

export interface ReleaseRowOptions {
  now: Date;
  batchId: string | null;
  profileId: string | null;
  /** How long a proxy rests when it cannot reach the upstream or its address was refused (PROXY_COOLDOWN_MS or the outcome's). */
  cooldownMs: number;
  /** The failure to store on the proxy, already redacted and storable. */
  lastError: string | null;
  maxConsecutiveFailures: number;
  /** When the request actually left (null: it never did); the next send through the proxy stays an interval after it. */
  sentAt: Date | null;
  pacing: PacingSettings;
  /** What the request asked about (a username, or the ids of a stories request): a session refused for two different ones is invalid. */
  subject?: string;
}
