/**
 * Secret scrubbing shared by logs, error messages and API output.
 * Two layers: pattern rules (credentials in URLs, cookies, auth headers) and an explicit registry of known
 * secrets (every proxy password and session token the process has loaded), replaced wherever they appear.
 */
const known = new Set<string>();

/** Registers a secret value so that `redact` removes it from any text. Short values are ignored (too noisy). */
export function registerSecret(value: string | null | undefined): void {
  if (value && value.length >= 4) known.add(value);
}

const rules: Array<[RegExp, string]> = [
  // scheme://user:pass@host → scheme://***@host
  [/([a-z][a-z0-9+.-]*:\/\/)[^\s/@:"']+(?::[^\s/@"']*)?@/gi, '$1***@'],
  [/(sessionid=)[^;\s"'&]+/gi, '$1***'],
  [/((?:proxy-)?authorization"?\s*[:=]\s*"?(?:basic|bearer)\s+)[^\s"',]+/gi, '$1***'],
  [/("(?:password|token|session_token|proxy_password)"\s*:\s*")[^"]*"/gi, '$1***"'],
];

export function redact(text: string): string {
  let out = text;
  for (const [pattern, replacement] of rules) out = out.replace(pattern, replacement);
  for (const secret of known) if (out.includes(secret)) out = out.split(secret).join('***');
  return out;
}

/** `http://user:pass@host:port/` → `http://host:port` (what the API shows for a proxy). */
export function stripCredentials(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}
