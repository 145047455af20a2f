/**
 * `npm run simulator`: the upstream simulator on SIM_HOST:SIM_PORT, and optionally SIM_PROXIES local forward
 * proxies in front of it (each with its own outgoing address, so each has its own rate limit).
 *
 * Environment (src/config/simulator.ts, README "Configuration"): SIM_PORT (4100), SIM_HOST (127.0.0.1),
 * SIM_RATE_PER_SECOND (0 = unlimited), SIM_BURST, SIM_LATENCY_MS (0), SIM_JITTER_MS (0), SIM_STORY_RATE (0.3),
 * SIM_PROXIES (0), SIM_PROXY_USERNAME / SIM_PROXY_PASSWORD (Basic auth on the proxies, off when unset),
 * SIM_STORY_TTL_S (86400: how long a story item lives) and SIM_STORY_POST_EVERY_S (how often each posting lane
 * of a profile posts; SIM_STORY_TTL_S).
 *
 * The real source's hostility:
 *   SIM_PROFILE (friendly | realistic: windows of 3/min, 20/11 min and 200/h per address, lower logged out,
 *   429 without Retry-After, 2 % random 429s, 302 to login when logged out, checkpoint after 500 requests of a
 *   session, rare 5xx bursts, a few 25 s answers), SIM_TIME_SCALE (1; 60 plays minutes as seconds), and over
 *   the profile: SIM_WINDOWS (`20/11m,200/1h`, `5/1s:fixed`, `none`), SIM_LOGGED_OUT_WINDOWS (same | none | a
 *   list), SIM_RETRY_AFTER (true | false | seconds), SIM_RATE_LIMIT_SHARE, SIM_LOGGED_OUT (answer | redirect |
 *   login_required), SIM_CHECKPOINT_AFTER (requests | off), SIM_FLAGGED_ADDRESSES (comma-separated),
 *   SIM_FLAGGED_SHARE, SIM_ERROR_BURST_RATE.
 */
import { ConfigError, loadSimulatorProcess } from '../config.js';
import { startForwardProxies, type ForwardProxies } from '../local/forward-proxies.js';
import { createLogger } from '../logging/logger.js';
import { registerSecret } from '../logging/redact.js';
import { startSimulator } from './app.js';

async function run(): Promise<void> {
  const log = createLogger({ component: 'simulator' });
  const { simulator: cfg, stories, realism } = loadSimulatorProcess();
  registerSecret(cfg.SIM_PROXY_PASSWORD);

  const sim = await startSimulator({
    host: cfg.SIM_HOST,
    port: cfg.SIM_PORT,
    ratePerSecond: cfg.SIM_RATE_PER_SECOND,
    ...(cfg.SIM_BURST !== undefined ? { burst: cfg.SIM_BURST } : {}),
    latencyMs: cfg.SIM_LATENCY_MS,
    jitterMs: cfg.SIM_JITTER_MS,
    storyRate: cfg.SIM_STORY_RATE,
    ...stories,
    ...realism,
  });
  log.info('simulator listening', {
    url: sim.url,
    stats: `${sim.url}/__sim/stats`,
    ratePerSecond: cfg.SIM_RATE_PER_SECOND,
    latencyMs: cfg.SIM_LATENCY_MS,
    profile: realism.profile ?? 'friendly',
    storyTtlS: sim.simulator.settings.storyTtlS,
    storyPostEveryS: sim.simulator.settings.storyPostEveryS ?? sim.simulator.settings.storyTtlS,
    timeScale: sim.simulator.settings.timeScale,
    windows: sim.simulator.settings.windows.map((w) => `${w.requests}/${w.windowMs}ms ${w.kind}`).join(', ') || 'none',
  });

  let proxies: ForwardProxies | null = null;
  if (cfg.SIM_PROXIES > 0) {
    const auth =
      cfg.SIM_PROXY_USERNAME !== undefined
        ? { username: cfg.SIM_PROXY_USERNAME, password: cfg.SIM_PROXY_PASSWORD ?? '' }
        : undefined;
    proxies = await startForwardProxies({ count: cfg.SIM_PROXIES, ...(auth ? { auth } : {}) });
    for (const p of proxies.proxies) {
      log.info('forward proxy listening', { url: p.url, outgoingAddress: p.localAddress, auth: auth !== undefined });
    }
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    await proxies?.close();
    await sim.close();
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stop(signal).catch((err: unknown) => {
        console.error(err);
        process.exit(1);
      });
    });
  }
}

run().catch((err: unknown) => {
  // a bad variable is one line naming it; anything else, with its stack
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
