/**
 * Label values made from things that may carry secrets. A proxy is named by its `host:port` alone, whatever
 * form its URL takes (credentials, path, query): this is the one place a proxy label is made.
 */

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

/** `host:port` of a proxy URL (the scheme's port when none is written); `invalid` when it is not a URL. */
export function proxyLabel(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'invalid';
  }
  const port = parsed.port || DEFAULT_PORTS[parsed.protocol] || '';
  return port ? `${parsed.hostname}:${port}` : parsed.hostname;
}
