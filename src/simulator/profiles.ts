/**
 * The simulator's two profiles. `friendly` (the defaults): a token bucket with a polite Retry-After and no
 * other hostility, for the demo and most tests. `realistic`: the real source as docs/upstream.md describes it
 * (sliding windows, 429 without Retry-After, random 429s, logged-out redirects, checkpoints, 5xx bursts, slow
 * answers), every duration divided by `timeScale` so a test or a demo plays minutes as seconds.
 */
import {
  simulatorActionsSchema,
  simulatorSettingsSchema,
  type SimulatorActions,
  type SimulatorOptions,
  type SimulatorSettings,
} from './settings.js';
import { sustainedIntervalMs } from './windows.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

/** The settings a profile decides; every other setting (population, bucket, latency) is left as it is. */
export type ProfileSettings = Pick<
  SimulatorSettings,
  | 'timeScale'
  | 'windows'
  | 'loggedOutWindows'
  | 'retryAfter'
  | 'rateLimitShare'
  | 'rateLimitStyle'
  | 'loggedOutReels'
  | 'checkpointAfter'
  | 'checkpointStatus'
  | 'flaggedAddresses'
  | 'flaggedShare'
  | 'errorBurstRate'
  | 'errorBurstRequests'
  | 'errorBurstMs'
  | 'slowRate'
  | 'slowMs'
>;

export type ProfileName = NonNullable<SimulatorActions['profile']>;

/**
 * The real source's shapes, as orders of magnitude: about one request per 20 s per address (3 a minute),
 * 20 per 11 minutes and 200 per hour, half that without a session; a 429 without Retry-After that lasts until
 * the windows clear; 2 % of requests refused at random; logged-out story requests sent to the login page; a
 * session checkpointed after 500 requests; rare bursts of 5xx; a few answers close to a 30 s client timeout
 * (not scaled: the client's timeout is not).
 */
export function realisticSettings(timeScale = 1): ProfileSettings {
  return {
    timeScale,
    windows: [
      { requests: 3, windowMs: MINUTE_MS, kind: 'sliding' },
      { requests: 20, windowMs: 11 * MINUTE_MS, kind: 'sliding' },
      { requests: 200, windowMs: HOUR_MS, kind: 'sliding' },
    ],
    loggedOutWindows: [
      { requests: 2, windowMs: MINUTE_MS, kind: 'sliding' },
      { requests: 10, windowMs: 11 * MINUTE_MS, kind: 'sliding' },
      { requests: 100, windowMs: HOUR_MS, kind: 'sliding' },
    ],
    retryAfter: false,
    rateLimitShare: 0.02,
    rateLimitStyle: '429-wait',
    loggedOutReels: 'redirect',
    checkpointAfter: 500,
    checkpointStatus: 400,
    flaggedAddresses: [],
    flaggedShare: 0,
    errorBurstRate: 0.001,
    errorBurstRequests: 20,
    errorBurstMs: 2 * MINUTE_MS,
    slowRate: 0.005,
    slowMs: 25_000,
  };
}

/** The defaults of every setting a profile decides: no window, no redirect, no checkpoint, no burst. */
export function friendlySettings(): ProfileSettings {
  const defaults = simulatorSettingsSchema.parse({});
  const keys = Object.keys(realisticSettings()) as Array<keyof ProfileSettings>;
  return Object.fromEntries(keys.map((k) => [k, defaults[k]])) as ProfileSettings;
}

export interface SettingsChange {
  settings: SimulatorSettings;
  actions: SimulatorActions;
}

/**
 * The settings after a change (what setOptions and POST /__sim/options take): the named profile's settings
 * first, then the keys given, over the current settings. A realistic profile keeps the current time scale
 * unless the change names one. Throws a ZodError on an invalid change.
 */
export function changeSettings(current: SimulatorSettings | null, change: object): SettingsChange {
  const { profile, clearCheckpoints, ...rest } = change as Record<string, unknown>;
  const actions = simulatorActionsSchema.parse({ profile, clearCheckpoints });
  const preset =
    actions.profile === 'realistic'
      ? realisticSettings(current?.timeScale)
      : actions.profile === 'friendly'
        ? friendlySettings()
        : {};
  return { settings: simulatorSettingsSchema.parse({ ...current, ...preset, ...rest }), actions };
}

/**
 * The spacing between one address's requests (with a session) that trips neither the token bucket nor a
 * window, in real milliseconds (0: unlimited): the pace a client that knows these options should keep.
 */
export function sustainedPaceMs(options: SimulatorOptions): number {
  const { random: _random, now: _now, ...change } = options;
  const { settings } = changeSettings(null, change);
  const bucket = settings.ratePerSecond > 0 ? 1000 / settings.ratePerSecond : 0;
  return Math.max(bucket, sustainedIntervalMs(settings.windows, settings.timeScale));
}
