// The simulator's section of the configuration (npm run simulator; its stories and realism in npm run dev too):
// where it listens, how its profiles post, a profile, its time scale and the knobs over it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadDevProcess, loadSimulatorProcess, parseWindows, type Env } from '../../src/config.js';
import { createSimulator, realisticSettings } from '../../src/simulator/app.js';

const run = promisify(execFile);

const realismFromEnv = (env: Env) => loadSimulatorProcess(env).realism;

describe('parseWindows', () => {
  it('reads requests per length, sliding unless said fixed', () => {
    expect(parseWindows('20/11m, 200/1h,5/1s:fixed,3/500ms:sliding')).toEqual([
      { requests: 20, windowMs: 660_000, kind: 'sliding' },
      { requests: 200, windowMs: 3_600_000, kind: 'sliding' },
      { requests: 5, windowMs: 1_000, kind: 'fixed' },
      { requests: 3, windowMs: 500, kind: 'sliding' },
    ]);
    expect(parseWindows('none')).toEqual([]);
  });

  it('names the part it cannot read', () => {
    expect(() => parseWindows('20/11m,20 per hour')).toThrow(/"20 per hour" is not a window/);
  });
});

describe('the simulator realism variables', () => {
  it('asks for nothing when no variable is set (the friendly defaults stay)', () => {
    expect(realismFromEnv({ SIM_PORT: '4100', SIM_PROFILE: '' })).toEqual({});
  });

  it('turns the variables into simulator options, over the profile', () => {
    const options = realismFromEnv({
      SIM_PROFILE: 'realistic',
      SIM_TIME_SCALE: '60',
      SIM_WINDOWS: '10/1m',
      SIM_LOGGED_OUT_WINDOWS: 'same',
      SIM_RETRY_AFTER: 'false',
      SIM_RATE_LIMIT_SHARE: '0.05',
      SIM_LOGGED_OUT: 'login_required',
      SIM_CHECKPOINT_AFTER: 'off',
      SIM_FLAGGED_ADDRESSES: '127.0.0.3, 127.0.0.4',
      SIM_FLAGGED_SHARE: '0.1',
      SIM_ERROR_BURST_RATE: '0',
    });
    expect(options).toEqual({
      profile: 'realistic',
      timeScale: 60,
      windows: [{ requests: 10, windowMs: 60_000, kind: 'sliding' }],
      loggedOutWindows: null,
      retryAfter: false,
      rateLimitShare: 0.05,
      loggedOutReels: 'login_required',
      checkpointAfter: null,
      flaggedAddresses: ['127.0.0.3', '127.0.0.4'],
      flaggedShare: 0.1,
      errorBurstRate: 0,
    });
    const { profile: _profile, ...settingsAsked } = options;
    const { settings } = createSimulator(options);
    expect(settings).toMatchObject({ ...realisticSettings(60), ...settingsAsked });
    expect(settings.rateLimitStyle).toBe('429-wait');
    expect(realismFromEnv({ SIM_RETRY_AFTER: '30', SIM_CHECKPOINT_AFTER: '300' })).toEqual({ retryAfter: 30, checkpointAfter: 300 });
  });

  it('refuses a value it cannot read, naming the variable and what is wrong', () => {
    expect(() => realismFromEnv({ SIM_PROFILE: 'hostile' })).toThrow(ConfigError);
    expect(() => realismFromEnv({ SIM_PROFILE: 'hostile' })).toThrow('invalid configuration: SIM_PROFILE must be friendly or realistic');
    expect(() => realismFromEnv({ SIM_WINDOWS: '20/11 minutes' })).toThrow(/^invalid configuration: SIM_WINDOWS "20\/11 minutes" is not a window/);
    expect(() => realismFromEnv({ SIM_TIME_SCALE: '0' })).toThrow('invalid configuration: SIM_TIME_SCALE must be above 0');
    expect(() => realismFromEnv({ SIM_RETRY_AFTER: 'maybe' })).toThrow(/^invalid configuration: SIM_RETRY_AFTER must be true, false or a number/);
  });

  it('are read by npm run dev too, which leaves the simulator server variables alone', () => {
    expect(loadDevProcess({ SIM_PROFILE: 'realistic', SIM_PORT: 'not a port' }).simulator).toEqual({
      profile: 'realistic',
      storyTtlS: 600,
      storyPostEveryS: 300,
    });
    expect(() => loadDevProcess({ SIM_CHECKPOINT_AFTER: 'never' })).toThrow(/^invalid configuration: SIM_CHECKPOINT_AFTER /);
  });
});

describe('the simulator story variables', () => {
  it('ask for nothing when unset: items live a day, and each lane posts once a day', () => {
    expect(loadSimulatorProcess({}).stories).toEqual({});
    const { settings } = createSimulator(loadSimulatorProcess({}).stories);
    expect(settings.storyTtlS).toBe(86_400);
    expect(settings.storyPostEveryS).toBeUndefined();
  });

  it('set the lifetime and the posting interval of the simulator it starts', () => {
    const { stories } = loadSimulatorProcess({ SIM_STORY_TTL_S: '3600', SIM_STORY_POST_EVERY_S: '900' });
    expect(stories).toEqual({ storyTtlS: 3600, storyPostEveryS: 900 });
    expect(createSimulator(stories).settings).toMatchObject({ storyTtlS: 3600, storyPostEveryS: 900 });
  });

  it.each([
    ['SIM_STORY_TTL_S', '0', 'must be a whole number of at least 1'],
    ['SIM_STORY_TTL_S', '1.5', 'must be a whole number'],
    ['SIM_STORY_POST_EVERY_S', '-60', 'must be a whole number of at least 1'],
    ['SIM_STORY_POST_EVERY_S', 'daily', 'must be a number'],
  ])('refuse %s=%s, in both processes', (name, value, message) => {
    expect(() => loadSimulatorProcess({ [name]: value })).toThrow(`invalid configuration: ${name} ${message}`);
    expect(() => loadDevProcess({ [name]: value })).toThrow(`invalid configuration: ${name} ${message}`);
  });

  it('play minutes under npm run dev: 10-minute items, a post every half lifetime unless set', () => {
    expect(loadDevProcess({}).simulator).toEqual({ storyTtlS: 600, storyPostEveryS: 300 });
    expect(loadDevProcess({ SIM_STORY_TTL_S: '1200' }).simulator).toEqual({ storyTtlS: 1200, storyPostEveryS: 600 });
    expect(loadDevProcess({ SIM_STORY_POST_EVERY_S: '60' }).simulator).toEqual({ storyTtlS: 600, storyPostEveryS: 60 });
    expect(loadDevProcess({ SIM_STORY_TTL_S: '86400', SIM_STORY_POST_EVERY_S: '86400' }).simulator).toEqual({
      storyTtlS: 86_400,
      storyPostEveryS: 86_400,
    });
  });
});

describe('the simulator server variables', () => {
  it('default to an open simulator on 127.0.0.1:4100 without proxies', () => {
    const { simulator } = loadSimulatorProcess({});
    expect(simulator).toMatchObject({ SIM_PORT: 4100, SIM_HOST: '127.0.0.1', SIM_RATE_PER_SECOND: 0, SIM_STORY_RATE: 0.3, SIM_PROXIES: 0 });
    expect(simulator.SIM_BURST).toBeUndefined();
  });

  it.each([
    ['SIM_PORT', '70000', 'must be a whole number from 0 to 65535'],
    ['SIM_RATE_PER_SECOND', '-1', 'must be a number of at least 0'],
    ['SIM_STORY_RATE', '2', 'must be a number from 0 to 1'],
    ['SIM_PROXIES', '201', 'must be a whole number from 0 to 200'],
    ['SIM_BURST', '0', 'must be a whole number of at least 1'],
  ])('names %s when it is wrong', (name, value, message) => {
    expect(() => loadSimulatorProcess({ [name]: value })).toThrow(`invalid configuration: ${name} ${message}`);
  });

  it('refuses a proxy password without a user name, naming both', () => {
    expect(() => loadSimulatorProcess({ SIM_PROXIES: '2', SIM_PROXY_PASSWORD: 'secret' })).toThrow(
      'invalid configuration: SIM_PROXY_PASSWORD is set without SIM_PROXY_USERNAME',
    );
    expect(loadSimulatorProcess({ SIM_PROXY_USERNAME: 'u', SIM_PROXY_PASSWORD: 'secret' }).simulator.SIM_PROXY_USERNAME).toBe('u');
  });
});

describe('npm run simulator with a bad variable', () => {
  it('stops with one line naming it, no stack trace', async () => {
    const attempt = run('npx', ['tsx', 'src/simulator/main.ts'], { env: { ...process.env, SIM_PORT: 'http' } });
    const err = (await attempt.then(() => null, (e: unknown) => e)) as { code: number; stderr: string } | null;
    expect(err?.code).toBe(1);
    expect(err!.stderr.trim().split('\n')).toEqual(['invalid configuration: SIM_PORT must be a number']);
  });
});
