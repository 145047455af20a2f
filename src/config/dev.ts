/**
 * The section of `npm run dev` (DEV_*): where the launcher puts its Postgres, Temporal server and simulator,
 * and how much demo it makes. The launcher also reads the service's section, with defaults of its own for a
 * few of its variables (devServiceDefaults), and the simulator's stories (at a scale of its own) and realism.
 */
import { z } from 'zod';
import { sustainedPaceMs } from '../simulator/profiles.js';
import type { SimulatorOptions } from '../simulator/settings.js';
import { fixedPort, int, number, port } from './fields.js';
import type { SimulatorStoryOptions } from './simulator.js';

/** Every part of `npm run dev` listens on this address. */
export const DEV_HOST = '127.0.0.1';

/** The worker's metrics port in `npm run dev` unless WORKER_METRICS_PORT says otherwise (a Prometheus exporter's). */
export const DEV_WORKER_METRICS_PORT = 9464;

export const devShape = {
  /** Where the Temporal SQLite file, its log and an embedded Postgres live (unset: `.data` in the project). */
  DEV_DATA_DIR: z.string().min(1).optional(),
  /** Where Postgres is looked for when DATABASE_URL is unset, and where an embedded one listens if none answers. */
  DEV_POSTGRES_PORT: fixedPort().default(5432),
  DEV_TEMPORAL_PORT: fixedPort().default(7233),
  DEV_TEMPORAL_UI_PORT: fixedPort().default(8233),
  DEV_SIM_PORT: port().default(4100),
  DEV_PROXIES: int(1, 50).default(4),
  DEV_SIM_RATE_PER_SECOND: number(0).default(5),
  DEV_SIM_LATENCY_MS: int(0).default(120),
  DEV_SIM_JITTER_MS: int(0).default(80),
  /** Demo profiles (0 = no demo batch). */
  DEV_DEMO_PROFILES: int(0, 100_000).default(300),
};

export const devSchema = z.object(devShape);
export type DevSettings = z.output<typeof devSchema>;

export const devComputedDefaults: Partial<Record<keyof typeof devShape, string>> = {
  DEV_DATA_DIR: '.data',
};

/**
 * The service variables `npm run dev` sets unless the environment does: its own Temporal server's address,
 * the worker's metrics port, webhooks allowed to its own address (the local receiver), and a pacing floor
 * that meets the demo upstream's known per-proxy pace (20 % margin for jitter).
 */
export function devServiceDefaults(dev: DevSettings, realism: SimulatorOptions): Record<string, string> {
  const paceMs = sustainedPaceMs({ ratePerSecond: dev.DEV_SIM_RATE_PER_SECOND, ...realism });
  return {
    TEMPORAL_ADDRESS: `${DEV_HOST}:${dev.DEV_TEMPORAL_PORT}`,
    WORKER_METRICS_PORT: String(DEV_WORKER_METRICS_PORT),
    // the demo webhook's local receiver listens there, over plain http
    WEBHOOK_ALLOW_HOSTS: DEV_HOST,
    ...(paceMs > 0 ? { PROXY_MIN_INTERVAL_MS: String(Math.ceil(1.2 * paceMs)) } : {}),
  };
}

/** How long a story item lives in `npm run dev`'s simulator unless SIM_STORY_TTL_S says otherwise: 10 minutes. */
export const DEV_STORY_TTL_S = 600;

/**
 * The stories of `npm run dev`'s simulator: short-lived, and posted twice per lifetime on each lane (unless
 * SIM_STORY_POST_EVERY_S says otherwise), so the demo shows new stories appear and old ones end within minutes.
 */
export function devStoryOptions(asked: SimulatorStoryOptions): Required<SimulatorStoryOptions> {
  const storyTtlS = asked.storyTtlS ?? DEV_STORY_TTL_S;
  return { storyTtlS, storyPostEveryS: asked.storyPostEveryS ?? Math.ceil(storyTtlS / 2) };
}
