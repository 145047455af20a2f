// Where a webhook may go (src/webhooks/target-url.ts): the URL's rules when it is registered, the addresses no
// webhook reaches, and the lookup that checks, at connect time, every address a name resolves to.
import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { guardedLookup, isNonPublicAddress, urlHost, webhookUrlProblem } from '../../src/webhooks/target-url.js';

describe('webhookUrlProblem', () => {
  it('accepts https to a public host, with a port, a path and a query', () => {
    expect(webhookUrlProblem('https://hooks.example.com/in', [])).toBeNull();
    expect(webhookUrlProblem('https://hooks.example.com:8443/in?team=7', [])).toBeNull();
    expect(webhookUrlProblem('https://8.8.8.8/in', [])).toBeNull();
  });

  it('refuses what is not an absolute http(s) URL', () => {
    expect(webhookUrlProblem('hooks.example.com/in', [])).toBe('must be an absolute URL');
    expect(webhookUrlProblem('ftp://hooks.example.com/in', [])).toMatch(/https URL/);
    expect(webhookUrlProblem('ftp://127.0.0.1/in', ['127.0.0.1'])).toBe('must be an http or https URL');
  });

  it('refuses plain http unless the host is allowed', () => {
    expect(webhookUrlProblem('http://hooks.example.com/in', [])).toMatch(/http only to a host in WEBHOOK_ALLOW_HOSTS/);
    expect(webhookUrlProblem('http://hooks.example.com/in', ['hooks.example.com'])).toBeNull();
  });

  it('refuses credentials and fragments', () => {
    expect(webhookUrlProblem('https://user:pw@hooks.example.com/in', [])).toBe('must not carry credentials');
    expect(webhookUrlProblem('https://token@hooks.example.com/in', [])).toBe('must not carry credentials');
    expect(webhookUrlProblem('https://hooks.example.com/in#x', [])).toBe('must not carry a fragment');
  });

  it('refuses loopback names and non-public literal addresses unless their host is allowed', () => {
    for (const url of [
      'https://localhost/in',
      'https://api.localhost/in',
      'https://127.0.0.1/in',
      'https://10.1.2.3/in',
      'https://192.168.1.1/in',
      'https://172.20.0.1/in',
      'https://169.254.169.254/latest/meta-data',
      'https://[::1]/in',
      'https://[fe80::1]/in',
      'https://[fd00::1]/in',
      'https://[::ffff:10.0.0.1]/in',
      'https://0.0.0.0/in',
    ]) {
      expect(webhookUrlProblem(url, []), url).toMatch(/must not name/);
    }
    expect(webhookUrlProblem('http://127.0.0.1:9000/in', ['127.0.0.1'])).toBeNull();
    expect(webhookUrlProblem('http://[::1]:9000/in', ['::1'])).toBeNull();
    expect(webhookUrlProblem('http://localhost:9000/in', ['localhost'])).toBeNull();
  });

  it('compares hosts in lower case, IPv6 without brackets', () => {
    expect(urlHost(new URL('https://Hooks.Example.COM/x'))).toBe('hooks.example.com');
    expect(urlHost(new URL('https://[::1]:8443/x'))).toBe('::1');
  });
});

describe('isNonPublicAddress', () => {
  it('tells the public internet from everything else', () => {
    for (const inner of ['127.0.0.1', '10.0.0.1', '100.64.0.1', '169.254.169.254', '172.31.255.255', '192.168.0.1', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fc00::1', '::ffff:192.168.0.1', 'not-an-ip']) {
      expect(isNonPublicAddress(inner), inner).toBe(true);
    }
    for (const outer of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      expect(isNonPublicAddress(outer), outer).toBe(false);
    }
  });
});

/** One call of a guarded lookup, as a socket makes it. */
function lookup(allowHosts: string[], hostname: string, all: boolean): Promise<{ err: NodeJS.ErrnoException | null; address: string | LookupAddress[] }> {
  return new Promise((resolve) => guardedLookup(allowHosts)(hostname, { all }, (err, address) => resolve({ err, address })));
}

describe('guardedLookup', () => {
  it('refuses a name that resolves to a loopback address when the name is not allowed', async () => {
    for (const all of [false, true]) {
      const { err } = await lookup([], 'localhost', all);
      expect(err?.code).toBe('EWEBHOOKADDRESS');
      expect(err?.message).toMatch(/resolves to a non-public address/);
    }
    // an address given as a name is looked at the same way
    expect((await lookup([], '127.0.0.1', false)).err?.code).toBe('EWEBHOOKADDRESS');
  });

  it('gives the addresses of an allowed name, one or all as asked', async () => {
    const one = await lookup(['localhost'], 'localhost', false);
    expect(one.err).toBeNull();
    expect(typeof one.address).toBe('string');
    expect(isNonPublicAddress(one.address as string)).toBe(true);
    const every = await lookup(['localhost'], 'localhost', true);
    expect(every.err).toBeNull();
    expect(Array.isArray(every.address) && every.address.length).toBeGreaterThan(0);
    expect((await lookup(['127.0.0.1'], '127.0.0.1', false)).address).toBe('127.0.0.1');
  });

  it('passes a lookup failure on', async () => {
    const { err } = await lookup([], 'no-such-host.invalid', false);
    expect(err).not.toBeNull();
    expect(err?.code).not.toBe('EWEBHOOKADDRESS');
  });
});
