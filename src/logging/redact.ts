/**
 * Secret scrubbing shared by logs, error messages and API output.
 * Two layers, applied in this order:
 * 1. an explicit registry of known secrets (every proxy password and session token the process has
 *    loaded), replaced wherever they appear: raw, JSON-escaped (a `"` inside a log line's JSON text reads
 *    `\"`), JSON-escaped twice (JSON text quoted inside JSON) and percent-encoded (as in a URL). Longest
 *    first, so that a secret containing another one is removed whole;
 * 2. pattern rules that blank every value in a credential position, whether registered or not: URL
 *    userinfo, `sessionid=`, `password=`/`token=` pairs, Authorization headers, secret-named JSON keys, and
 *    webhook signing secrets (`whsec_…`), which announce themselves by their shape.
 *
 * Secrets of 1 to 3 characters are not replaced everywhere: a password "ab" would be cut out of every
 * word holding those letters, wrecking unrelated text (and showing where the secret hides). They are
 * removed only by layer 2, in the positions where a credential is written.
 */
const MIN_ANYWHERE_LENGTH = 4;

const known = new Set<string>();
/** Every form of every registered secret of at least MIN_ANYWHERE_LENGTH characters. */
const forms = new Set<string>();
/**
 * `forms` by their first MIN_ANYWHERE_LENGTH characters, longest first: one lookup per position of a line
 * instead of one search per secret (a process holding thousands of tokens logs as fast as one holding none).
 * Rebuilt on the next `redact` after a registration.
 */
let byPrefix: Map<string, string[]> | null = new Map();

function indexForms(): Map<string, string[]> {
  const index = new Map<string, string[]>();
  for (const form of [...forms].sort((a, b) => b.length - a.length)) {
    const prefix = form.slice(0, MIN_ANYWHERE_LENGTH);
    const list = index.get(prefix);
    if (list) list.push(form);
    else index.set(prefix, [form]);
  }
  return index;
}

/** Replaces every registered form, leftmost first and the longest where several start at one place. */
function removeKnown(text: string): string {
  byPrefix ??= indexForms();
  if (byPrefix.size === 0) return text;
  let out = '';
  let copied = 0;
  for (let i = 0; i + MIN_ANYWHERE_LENGTH <= text.length; ) {
    const hit = byPrefix.get(text.slice(i, i + MIN_ANYWHERE_LENGTH))?.find((form) => text.startsWith(form, i));
    if (hit === undefined) {
      i += 1;
      continue;
    }
    out += `${text.slice(copied, i)}***`;
    i += hit.length;
    copied = i;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

const jsonEscaped = (value: string) => JSON.stringify(value).slice(1, -1);

function formsOf(secret: string): string[] {
  const once = jsonEscaped(secret);
  let encoded = secret;
  try {
    encoded = encodeURIComponent(secret);
  } catch {
    // a lone surrogate cannot be percent-encoded; the other forms still apply
  }
  return [secret, once, jsonEscaped(once), encoded];
}

/**
 * Registers a secret value so that `redact` removes it from any text. A value shorter than 4 characters
 * is only removed from credential positions (see the module comment).
 */
export function registerSecret(value: string | null | undefined): void {
  if (!value || value.length < MIN_ANYWHERE_LENGTH || known.has(value)) return;
  known.add(value);
  for (const form of formsOf(value)) if (form.length >= MIN_ANYWHERE_LENGTH) forms.add(form);
  byPrefix = null;
}

/** Every secret registered so far (the test run checks that none of them reached a log line). */
export function registeredSecrets(): string[] {
  return [...known];
}

// a JSON string's content: anything but a quote or a backslash, or an escape sequence
const JSON_STRING_BODY = String.raw`(?:[^"\\]|\\.)*`;
const SECRET_KEYS = 'password|passwd|token|session_token|proxy_password|secret|api_key|sessionid';

const rules: Array<[RegExp, string]> = [
  // scheme://user:pass@host → scheme://***@host
  [/([a-z][a-z0-9+.-]*:\/\/)(?:[^\s/@"'\\]|\\.)+@/gi, '$1***@'],
  [/(sessionid=)(?:[^;\s"'&\\]|\\.)+/gi, '$1***'],
  [new RegExp(String.raw`(\b(?:${SECRET_KEYS})=)(?:[^;\s"'&\\]|\\.)+`, 'gi'), '$1***'],
  // (`$API_KEY`, the shell variable, stands for the key but is not it: commands printed for a person keep it)
  [/((?:proxy-)?authorization\\?"?\s*[:=]\s*\\?"?(?:basic|bearer)\s+)(?!\$API_KEY(?=[\s"']|$))(?:[^\s"',\\]|\\.)+/gi, '$1***'],
  // "password":"..." and, inside JSON text quoted again, \"password\":\"...\"
  [new RegExp(String.raw`("(?:${SECRET_KEYS})"\s*:\s*")${JSON_STRING_BODY}"`, 'gi'), '$1***"'],
  [new RegExp(String.raw`(\\"(?:${SECRET_KEYS})\\"\s*:\s*\\")(?:[^"\\]|\\[^"])*\\"`, 'gi'), '$1***\\"'],
  // a webhook signing secret wherever it appears, registered or not (`whsec_` + base64, src/webhooks/secret.ts)
  // (percent-encoded too, as in a URL's query)
  [/\bwhsec_[A-Za-z0-9+/=%]+/g, 'whsec_***'],
];

export function redact(text: string): string {
  let out = removeKnown(text);
  for (const [pattern, replacement] of rules) out = out.replace(pattern, replacement);
  return out;
}

/** `http://user:pass@host:port/` → `http://host:port` (what the API shows for a proxy). */
export function stripCredentials(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}
