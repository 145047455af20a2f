// A watch's cadence as the API accepts it: the cron grammar, the time zone names, and the catch-up window.
import { describe, expect, it } from 'vitest';
import { catchupWindowMs, isKnownTimezone, isValidCron } from '../../src/watches/cadence.js';

describe('watch cadence', () => {
  it('accepts five-field cron expressions and the @ shorthands, and nothing else', () => {
    for (const ok of ['* * * * *', '*/15 * * * *', '0 9 * * MON-FRI', '0,30 8-18/2 1 JAN,jul sun', '59 23 31 12 7', '@hourly', '@Daily']) {
      expect(isValidCron(ok), ok).toBe(true);
    }
    for (const bad of ['', 'every minute', '* * * *', '* * * * * *', '60 * * * *', '* 24 * * *', '* * 0 * *', '* * * 13 *', '* * * * 8', '5-1 * * * *', '*/0 * * * *', '1/2/3 * * * *', 'CRON_TZ=UTC * * * * *', '@reboot', '@every 5m']) {
      expect(isValidCron(bad), bad).toBe(false);
    }
  });

  it('knows IANA zone names as the tz database spells them', () => {
    for (const zone of ['UTC', 'Europe/Paris', 'America/Argentina/Buenos_Aires', 'Asia/Kolkata', 'Etc/GMT+5']) expect(isKnownTimezone(zone), zone).toBe(true);
    for (const zone of ['', 'utc ', 'europe/paris', 'Mars/Olympus_Mons', '+02:00']) expect(isKnownTimezone(zone), zone).toBe(false);
  });

  it('lets a missed tick run late by one interval at most, at least 10 s, and 60 s for cron', () => {
    expect(catchupWindowMs({ every_s: 10 })).toBe(10_000);
    expect(catchupWindowMs({ every_s: 3600 })).toBe(3_600_000);
    expect(catchupWindowMs({ every_s: null })).toBe(60_000);
  });
});
