// The simulator's realism read from the environment (npm run simulator, npm run dev): a profile, its time
// scale and the knobs over it.
import { describe, expect, it } from 'vitest';
import { createSimulator, realisticSettings } from '../../src/simulator/app.js';
import { parseWindows, realismFromEnv } from '../../src/simulator/env.js';

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

describe('realismFromEnv', () => {
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

  it('refuses a value it cannot read, naming the variable', () => {
    expect(() => realismFromEnv({ SIM_PROFILE: 'hostile' })).toThrow(/SIM_PROFILE/);
    expect(() => realismFromEnv({ SIM_WINDOWS: '20/11 minutes' })).toThrow(/SIM_WINDOWS/);
    expect(() => realismFromEnv({ SIM_TIME_SCALE: '0' })).toThrow(/SIM_TIME_SCALE/);
  });
});
