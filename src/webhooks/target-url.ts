/**
 * Where a webhook may be sent. A URL someone registers is a request the service makes from inside its own
 * network, so without rules it reaches what no outsider should (a metadata service, an admin port on
 * localhost). The rules:
 *
 * - `https` only, or `http` to a host named in WEBHOOK_ALLOW_HOSTS (the tests and `npm run dev` name loopback);
 * - no private, loopback, link-local or otherwise non-public address, unless the host is allowed: checked on
 *   the literal address when the URL is registered, and on every address DNS gives when a request connects
 *   (`guardedLookup`), so a name that resolves, or later re-resolves, to an inner address is refused too;
 * - no credentials in the URL (they would be shown back and logged as part of it);
 * - redirects are never followed (src/webhooks/send.ts), so a public endpoint cannot bounce a request inward.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/** Addresses no webhook may reach unless its host is allowed: everything that is not the public internet. */
const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
] as const) blocked.addSubnet(net, bits, 'ipv6');

/** Whether `address` (an IP literal) is private, loopback, link-local or otherwise not a public address. */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  if (family === 6) {
    // an IPv4 address written as IPv6 (::ffff:10.0.0.1) is that IPv4 address
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return blocked.check(mapped[1]!, 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return blocked.check(address, 'ipv4');
}

/**
 * A host as compared with WEBHOOK_ALLOW_HOSTS and the loopback names: lower case, an IPv6 literal without
 * brackets, and without the trailing dot of a fully qualified name (`localhost.` is `localhost`).
 */
export function normalHost(hostname: string): string {
  return hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

/** The host of a URL, normalised (normalHost). */
export function urlHost(url: URL): string {
  return normalHost(url.hostname);
}

/**
 * Why `raw` may not be a webhook's URL, or null when it may. Checks what can be checked without DNS; the
 * addresses a name resolves to are checked when each request connects.
 */
export function webhookUrlProblem(raw: string, allowHosts: readonly string[]): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL';
  }
  const host = urlHost(url);
  const allowed = allowHosts.includes(host);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowed)) {
    return allowed ? 'must be an http or https URL' : 'must be an https URL (http only to a host in WEBHOOK_ALLOW_HOSTS)';
  }
  if (url.username || url.password) return 'must not carry credentials';
  if (url.hash) return 'must not carry a fragment';
  if (!allowed && (host === 'localhost' || host.endsWith('.localhost'))) return 'must not name a loopback host';
  if (!allowed && isIP(host) !== 0 && isNonPublicAddress(host)) {
    return 'must not name a private, loopback or link-local address (unless its host is in WEBHOOK_ALLOW_HOSTS)';
  }
  return null;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for the sockets webhook requests open: DNS as usual, then every address it gave is refused when
 * it is not public and `host` is not allowed. So the check is made on the address actually connected to.
 */
export function guardedLookup(allowHosts: readonly string[]) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const host = normalHost(hostname);
      if (!allowHosts.includes(host)) {
        const inner = addresses.find((a) => isNonPublicAddress(a.address));
        if (inner) {
          const refusal = Object.assign(new Error(`webhook host ${hostname} resolves to a non-public address (${inner.address})`), {
            code: 'EWEBHOOKADDRESS',
          });
          return callback(refusal, []);
        }
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}
