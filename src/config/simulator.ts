/**
 * The simulator's section: where `npm run simulator` listens and how it answers (SIM_PORT ... SIM_PROXY_*),
 * how its profiles post stories (SIM_STORY_TTL_S, SIM_STORY_POST_EVERY_S) and the real source's behaviours over
 * its profile (SIM_PROFILE ... SIM_ERROR_BURST_RATE); `npm run dev` reads the stories' and the behaviours' too.
 *
 *   SIM_STORY_TTL_S          how long a story item lives, in seconds (86400)
 *   SIM_STORY_POST_EVERY_S   how often each posting lane of a profile posts, in seconds (SIM_STORY_TTL_S)
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
import type { SimulatorOptions } from '../simulator/settings.js';
import type { LimitWindow } from '../simulator/windows.js';
import { int, number, port, share, type Relation } from './fields.js';

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

const windowList = z.string().transform((text, ctx) => {
  try {
    return parseWindows(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/**
 * How the simulated profiles post: only those set, so the simulator's defaults (a day, a post per lane a day)
 * or `npm run dev`'s (src/config/dev.ts) decide the rest.
 */
export const simulatorStoriesShape = {
  SIM_STORY_TTL_S: int(1).optional(),
  SIM_STORY_POST_EVERY_S: int(1).optional(),
};

/** The real source's behaviours, each over the profile's value when set. */
export const simulatorRealismShape = {
  SIM_PROFILE: z.enum(['friendly', 'realistic'], { error: 'must be friendly or realistic' }).optional(),
  SIM_TIME_SCALE: z.coerce.number({ error: 'must be a number' }).positive('must be above 0').optional(),
  SIM_WINDOWS: windowList.optional(),
  SIM_LOGGED_OUT_WINDOWS: z.union([z.literal('same').transform(() => null), windowList]).optional(),
  SIM_RETRY_AFTER: z
    .union([z.enum(['true', 'false']).transform((v) => v === 'true'), int(0)], { error: 'must be true, false or a number of seconds' })
    .optional(),
  SIM_RATE_LIMIT_SHARE: share.optional(),
  SIM_LOGGED_OUT: z.enum(['answer', 'redirect', 'login_required'], { error: 'must be answer, redirect or login_required' }).optional(),
  SIM_CHECKPOINT_AFTER: z.union([z.literal('off').transform(() => null), int(0)], { error: 'must be off or a number of requests' }).optional(),
  SIM_FLAGGED_ADDRESSES: z
    .string()
    .transform((text) => text.split(',').map((a) => a.trim()).filter((a) => a !== ''))
    .optional(),
  SIM_FLAGGED_SHARE: share.optional(),
  SIM_ERROR_BURST_RATE: share.optional(),
};

export const simulatorShape = {
  SIM_PORT: port().default(4100),
  SIM_HOST: z.string().min(1).default('127.0.0.1'),
  /** Requests per second each client address may send (0 = unlimited). */
  SIM_RATE_PER_SECOND: number(0).default(0),
  SIM_BURST: int(1).optional(),
  SIM_LATENCY_MS: int(0).default(0),
  SIM_JITTER_MS: int(0).default(0),
  SIM_STORY_RATE: share.default(0.3),
  /** Local forward proxies in front of the simulator, each with its own outgoing address. */
  SIM_PROXIES: int(0, 200).default(0),
  SIM_PROXY_USERNAME: z.string().min(1).optional(),
  SIM_PROXY_PASSWORD: z.string().min(1).optional(),
  ...simulatorStoriesShape,
  ...simulatorRealismShape,
};

export const simulatorSchema = z.object(simulatorShape);
export const simulatorStoriesSchema = z.object(simulatorStoriesShape);
export const simulatorRealismSchema = z.object(simulatorRealismShape);
export type SimulatorSection = z.output<typeof simulatorSchema>;

export const simulatorComputedDefaults: Partial<Record<keyof typeof simulatorShape, string>> = {
  SIM_BURST: "one second's worth of SIM_RATE_PER_SECOND",
  SIM_STORY_TTL_S: '86400',
  SIM_STORY_POST_EVERY_S: 'SIM_STORY_TTL_S',
  SIM_PROFILE: 'friendly',
  SIM_TIME_SCALE: '1',
  SIM_WINDOWS: "the profile's",
  SIM_LOGGED_OUT_WINDOWS: "the profile's",
  SIM_RETRY_AFTER: "the profile's",
  SIM_RATE_LIMIT_SHARE: "the profile's",
  SIM_LOGGED_OUT: "the profile's",
  SIM_CHECKPOINT_AFTER: "the profile's",
  SIM_FLAGGED_ADDRESSES: "the profile's",
  SIM_FLAGGED_SHARE: "the profile's",
  SIM_ERROR_BURST_RATE: "the profile's",
};

export const simulatorRelations: readonly Relation<SimulatorSection>[] = [
  {
    // the proxies ask for Basic auth only with a user name: a password alone would be silently left out
    variables: ['SIM_PROXY_PASSWORD', 'SIM_PROXY_USERNAME'],
    problem: (s) =>
      s.SIM_PROXY_PASSWORD !== undefined && s.SIM_PROXY_USERNAME === undefined
        ? 'SIM_PROXY_PASSWORD is set without SIM_PROXY_USERNAME: the proxies would ask for no credentials'
        : null,
  },
];

const optionOf = {
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
} as const satisfies Record<keyof typeof simulatorRealismShape, keyof SimulatorOptions>;

/** The simulator options the realism variables ask for: only those set, so the profile decides the rest. */
export function realismOptions(realism: Partial<z.output<typeof simulatorRealismSchema>>): SimulatorOptions {
  const options: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(optionOf)) {
    const value = realism[name as keyof typeof optionOf];
    if (value !== undefined) options[option] = value;
  }
  return options as SimulatorOptions;
}

export type SimulatorStoryOptions = Pick<SimulatorOptions, 'storyTtlS' | 'storyPostEveryS'>;

/** The simulator options the story variables ask for: only those set. */
export function storyOptions(stories: Partial<z.output<typeof simulatorStoriesSchema>>): SimulatorStoryOptions {
  return {
    ...(stories.SIM_STORY_TTL_S !== undefined ? { storyTtlS: stories.SIM_STORY_TTL_S } : {}),
    ...(stories.SIM_STORY_POST_EVERY_S !== undefined ? { storyPostEveryS: stories.SIM_STORY_POST_EVERY_S } : {}),
  };
}
