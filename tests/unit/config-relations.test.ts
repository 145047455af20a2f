// The rules between the service's variables: each accepts a configuration that keeps it, and refuses one that
// breaks it with a line naming both variables.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, MAX_SEND_WAIT_MS } from '../../src/config.js';

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('relations between variables', () => {
  it('the longest retry delay is not below the first: CHECK_MAX_INTERVAL_MS ≥ CHECK_INITIAL_INTERVAL_MS', () => {
    expect(loadConfig({ CHECK_INITIAL_INTERVAL_MS: '5000', CHECK_MAX_INTERVAL_MS: '5000' }).CHECK_MAX_INTERVAL_MS).toBe(5000);
    expect(refusal({ CHECK_INITIAL_INTERVAL_MS: '5000', CHECK_MAX_INTERVAL_MS: '4999' })).toBe(
      'invalid configuration: CHECK_MAX_INTERVAL_MS (4999) must not be below CHECK_INITIAL_INTERVAL_MS (5000)',
    );
  });

  it('a delivery\'s longest retry wait is not below its first: WEBHOOK_RETRY_MAX_INTERVAL_MS ≥ WEBHOOK_RETRY_INITIAL_MS', () => {
    expect(loadConfig({ WEBHOOK_RETRY_INITIAL_MS: '500', WEBHOOK_RETRY_MAX_INTERVAL_MS: '500' }).WEBHOOK_RETRY_MAX_INTERVAL_MS).toBe(500);
    expect(refusal({ WEBHOOK_RETRY_INITIAL_MS: '500', WEBHOOK_RETRY_MAX_INTERVAL_MS: '499' })).toBe(
      'invalid configuration: WEBHOOK_RETRY_MAX_INTERVAL_MS (499) must not be below WEBHOOK_RETRY_INITIAL_MS (500)',
    );
  });

  it('one request fits in the heartbeat timeout: CHECK_HEARTBEAT_TIMEOUT_MS > CHECK_TIMEOUT_MS', () => {
    expect(loadConfig({ CHECK_TIMEOUT_MS: '2000', CHECK_HEARTBEAT_TIMEOUT_MS: '3000', PROXY_LEASE_MS: '7500' }).CHECK_HEARTBEAT_TIMEOUT_MS).toBe(3000);
    const message = refusal({ CHECK_TIMEOUT_MS: '30000', CHECK_HEARTBEAT_TIMEOUT_MS: '30000' });
    expect(message).toMatch(/^invalid configuration: CHECK_HEARTBEAT_TIMEOUT_MS \(30000\) must be above CHECK_TIMEOUT_MS \(30000\)/);
    // the default heartbeat timeout is what a longer request timeout runs into
    expect(refusal({ CHECK_TIMEOUT_MS: '90000', PROXY_LEASE_MS: '200000' })).toMatch(
      /^invalid configuration: CHECK_HEARTBEAT_TIMEOUT_MS \(60000\) must be above CHECK_TIMEOUT_MS \(90000\)/,
    );
  });

  it('a send slot outlasts its request and the wait for its send time: PROXY_LEASE_MS > CHECK_TIMEOUT_MS + MAX_SEND_WAIT_MS', () => {
    const shortest = 30_000 + MAX_SEND_WAIT_MS;
    expect(loadConfig({ CHECK_TIMEOUT_MS: '30000', PROXY_LEASE_MS: String(shortest + 1) }).PROXY_LEASE_MS).toBe(shortest + 1);
    expect(refusal({ CHECK_TIMEOUT_MS: '30000', PROXY_LEASE_MS: String(shortest) })).toBe(
      `invalid configuration: PROXY_LEASE_MS (${shortest}) must be above CHECK_TIMEOUT_MS (30000) + ${MAX_SEND_WAIT_MS} ` +
        '(the longest wait for a send time), or a slot can be reclaimed mid-request',
    );
  });

  it('the defaults keep every rule', () => {
    expect(() => loadConfig({})).not.toThrow();
  });
});
