/**
 * The upstream simulator: a story source that follows docs/upstream.md exactly, with the limits and faults a real
 * one has (per-address rate limits, sessions, latency, 5xx, malformed bodies, resets), all adjustable while
 * it runs. Friendly by default; the `realistic` profile plays the real source's hostility (profiles.ts). It
 * serves the demo, the benchmark and the tests; `/__sim/*` shows what it saw and changes how it behaves.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { serveControl } from './control.js';
import { serveEndpoints } from './endpoints.js';
import { sourceGate } from './gate.js';
import type { SimEnv } from './malformed.js';
import type { Population } from './population.js';
import type { SimulatorOptions, SimulatorSettings } from './settings.js';
import { SimState } from './state.js';
import type { SimulatorStats } from './stats.js';

export { simulatorSettingsSchema, type SimulatorOptions, type SimulatorSettings } from './settings.js';
export { friendlySettings, realisticSettings, sustainedPaceMs, type ProfileName } from './profiles.js';
export type { SimulatorStats } from './stats.js';

export interface Simulator {
  app: Hono<{ Bindings: HttpBindings }>;
  /** Live counters (the object is updated in place, never replaced). */
  stats: SimulatorStats;
  /** Clears the counters and what the source remembers of its clients (rate limits, checkpoints, a burst). */
  reset(): void;
  /** Changes settings (the others are kept); `profile` starts from a profile, `clearCheckpoints` clears them. */
  setOptions(partial: SimulatorOptions): void;
  readonly settings: SimulatorSettings;
  readonly population: Population;
}

export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const state = new SimState(options);
  const app = new Hono<SimEnv>({ strict: false });
  serveControl(app, state);
  app.use('/api/*', sourceGate(state));
  serveEndpoints(app, state);
  app.notFound((c) => c.json({ message: 'Page not found', status: 'fail' }, 404));
  return {
    app,
    stats: state.stats,
    reset: () => state.reset(),
    setOptions: (partial) => state.change(partial),
    get settings() {
      return state.settings;
    },
    get population() {
      return state.population;
    },
  };
}

export interface StartSimulatorOptions extends SimulatorOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
}

export interface RunningSimulator {
  url: string;
  port: number;
  stats: SimulatorStats;
  simulator: Simulator;
  setOptions(partial: SimulatorOptions): void;
  reset(): void;
  close(): Promise<void>;
}

/** Serves a simulator over HTTP (what proxies and the story client talk to). */
export async function startSimulator(options: StartSimulatorOptions = {}): Promise<RunningSimulator> {
  const { host = '127.0.0.1', port = 0, ...rest } = options;
  const simulator = createSimulator(rest);
  const server = await new Promise<http.Server>((resolve, reject) => {
    const s = serve({ fetch: simulator.app.fetch, port, hostname: host }, () => resolve(s as http.Server));
    s.once('error', reject);
  });
  const actualPort = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${actualPort}`,
    port: actualPort,
    stats: simulator.stats,
    simulator,
    setOptions: (partial) => simulator.setOptions(partial),
    reset: () => simulator.reset(),
    // idempotent: a test that stops the source to simulate an outage may close it before its owner does
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive connections (proxy tunnels) would otherwise hold the server open.
        server.closeAllConnections();
      }),
  };
}
