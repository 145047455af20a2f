/**
 * The simulator's realism from the environment, for `npm run simulator` and `npm run dev` alike: a profile,
 * its time scale, and the main knobs of the real source's behaviours, each over the profile's value.
 *
 *   SIM_PROFILE              friendly (default) | realistic
 *   SIM_TIME_SCALE           divides window and burst lengths (1; 60 plays minutes as seconds)
 *   SIM_WINDOWS              request windows per address, e.g. `20/11m,200/1h` or `5/1s:fixed`; `none`
 *   SIM_LOGGED_OUT_WINDOWS   the same for requests without a session; `same` (as SIM_WINDOWS) or `none`
 *   SIM_RETRY_AFTER          on a 429: `true` (seconds until allowed), `false` (no header) or a number of seconds
 *   SIM_RATE_LIMIT_SHARE     share of requests refused at random (0..1)
 *   SIM_LOGGED_OUT           reels_media without a session: answer | redirect | login_required
 *   SIM_CHECKPOINT_AFTER     requests a session may send before checkpoint_required; `off`
 *   SIM_FLAGGED_ADDRESSES    client addresses answered 403 Forbidden, comma-separated
 *   SIM_FLAGGED_SHARE        share of addresses flagged, chosen by the seed (0..1)
 *   SIM_ERROR_BURST_RATE     chance a request starts a burst of 5xx (0..1)
 */
import { z } from 'zod';
import type { SimulatorOptions } from './settings.js';
import type { LimitWindow } from './windows.js';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
const WINDOW = /^(\d+)\/(\d+(?:\.\d+)?)(ms|s|m|h)(?::(sliding|fixed))?$/;

/** `20/11m,200/1h,5/1s:fixed` → windows; `none` → no window. */
export function parseWindows(text: string): LimitWindow[] {
  if (text.trim() === 'none') return [];
  return text.split(',').map((part) => {
    const match = WINDOW.exec(part.trim());
    if (!match) throw new Error(`"${part.trim()}" is not a window: <requests>/<length><ms|s|m|h>[:sliding|:fixed], e.g. 20/11m`);
    const [, requests, length, unit, kind] = match;
    return { requests: Number(requests), windowMs: Number(length) * UNIT_MS[unit as keyof typeof UNIT_MS], kind: kind === 'fixed' ? 'fixed' : 'sliding' };
  });
}

const share = z.coerce.number().min(0).max(1);
const windowList = z.string().transform((text, ctx) => {
  try {
    return parseWindows(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const realismEnv = z.object({
  SIM_PROFILE: z.enum(['friendly', 'realistic']).optional(),
  SIM_TIME_SCALE: z.coerce.number().positive().optional(),
  SIM_WINDOWS: windowList.optional(),
  SIM_LOGGED_OUT_WINDOWS: z.union([z.literal('same').transform(() => null), windowList]).optional(),
  SIM_RETRY_AFTER: z
    .union([z.enum(['true', 'false']).transform((v) => v === 'true'), z.coerce.number().int().nonnegative()])
    .optional(),
  SIM_RATE_LIMIT_SHARE: share.optional(),
  SIM_LOGGED_OUT: z.enum(['answer', 'redirect', 'login_required']).optional(),
  SIM_CHECKPOINT_AFTER: z.union([z.literal('off').transform(() => null), z.coerce.number().int().nonnegative()]).optional(),
  SIM_FLAGGED_ADDRESSES: z
    .string()
    .transform((text) => text.split(',').map((a) => a.trim()).filter((a) => a !== ''))
    .optional(),
  SIM_FLAGGED_SHARE: share.optional(),
  SIM_ERROR_BURST_RATE: share.optional(),
});

const settingOf = {
  SIM_PROFILE: 'profile',
  SIM_TIME_SCALE: 'timeScale',
  SIM_WINDOWS: 'windows',
  SIM_LOGGED_OUT_WINDOWS: 'loggedOutWindows',
  SIM_RETRY_AFTER: 'retryAfter',
  SIM_RATE_LIMIT_SHARE: 'rateLimitShare',
  SIM_LOGGED_OUT: 'loggedOutReels',
  SIM_CHECKPOINT_AFTER: 'checkpointAfter',
  SIM_FLAGGED_ADDRESSES: 'flaggedAddresses',
  SIM_FLAGGED_SHARE: 'flaggedShare',
  SIM_ERROR_BURST_RATE: 'errorBurstRate',
} as const satisfies Record<keyof z.infer<typeof realismEnv>, keyof SimulatorOptions>;

/** The simulator options these variables ask for (empty strings are unset); throws on an invalid value. */
export function realismFromEnv(env: NodeJS.ProcessEnv): SimulatorOptions {
  const set = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = realismEnv.safeParse(set);
  if (!parsed.success) throw new Error(`invalid simulator environment: ${z.prettifyError(parsed.error)}`);
  const options: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(parsed.data)) {
    if (value !== undefined) options[settingOf[name as keyof typeof settingOf]] = value;
  }
  return options as SimulatorOptions;
}
