/**
 * One webhook request: the delivery's fixed body, POSTed with its Standard Webhooks signature headers, and what
 * came of it (status, duration, the start of the answer, or why there was none). Classifying the outcome
 * (delivered, gone, retry) is the caller's job; this module only sends.
 *
 * Where the request may go is checked here again, whatever was checked when the URL was registered
 * (src/webhooks/target-url.ts): the URL's rules against today's WEBHOOK_ALLOW_HOSTS, a literal IP (for which no
 * DNS lookup happens) directly, and every address a name resolves to in the socket's own lookup, so the check
 * is made on the address actually connected to. Redirects are never followed: undici's `request` follows none
 * unless a redirect interceptor is added, so a 3xx comes back as what it is, a failed attempt.
 *
 * The secrets sign the request and go nowhere else: no error, outcome or log line here carries a header.
 */
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { storableText } from '../db/storable-text.js';
import { redact } from '../logging/redact.js';
import { signedHeaders } from './secret.js';
import { guardedLookup, webhookUrlProblem } from './target-url.js';

/** The most of an answer's body kept with an attempt (webhook_delivery_attempts.response_snippet). */
export const SNIPPET_MAX_CHARS = 1024;
/** Bytes read for the snippet: enough for SNIPPET_MAX_CHARS characters of UTF-8; the rest is never read. */
const SNIPPET_MAX_BYTES = SNIPPET_MAX_CHARS * 4;
/** An error's text as stored with an attempt. */
const ERROR_MAX_CHARS = 300;

export const WEBHOOK_USER_AGENT = 'storycheck-webhooks/1';

export interface WebhookRequest {
  url: string;
  /** The `webhook-id`: the same on every attempt of a delivery. */
  messageId: string;
  /** The exact bytes to send (webhook_deliveries.body). */
  body: string;
  /** The endpoint's live secrets, the current one first; the request is signed with each. */
  secrets: readonly string[];
  /** The `webhook-timestamp` (Unix seconds); now by default. */
  timestampS?: number;
}

export interface SendOutcome {
  /** The answer's status, or null when none came (refused, unreachable, timed out). */
  statusCode: number | null;
  /** Why no answer came, or null when one did. Never holds a secret. */
  error: string | null;
  /** From the start of the request to the end of the snippet (or of the failure). */
  durationMs: number;
  /** The start of the answer's body (at most SNIPPET_MAX_CHARS characters), or null when there was none. */
  snippet: string | null;
}

export interface WebhookSenderOptions {
  /** WEBHOOK_ALLOW_HOSTS: hosts reached over http, and allowed to resolve to non-public addresses. */
  allowHosts: readonly string[];
  /** WEBHOOK_TIMEOUT_MS: the whole request, connecting and the snippet included. */
  timeoutMs: number;
}

export interface WebhookSender {
  send(req: WebhookRequest, signal?: AbortSignal): Promise<SendOutcome>;
  close(): Promise<void>;
}

/** Reads at most SNIPPET_MAX_BYTES of `body`, then drops the rest without reading it. */
async function readSnippet(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    chunks.push(buf);
    size += buf.length;
    if (size >= SNIPPET_MAX_BYTES) break;
  }
  body.destroy();
  const text = Buffer.concat(chunks).subarray(0, SNIPPET_MAX_BYTES).toString('utf8');
  // whole characters (Postgres counts code points), no NUL (Postgres refuses it in text)
  const clean = storableText(text, Number.MAX_SAFE_INTEGER);
  return redact(Array.from(clean).slice(0, SNIPPET_MAX_CHARS).join(''));
}

/** An error's code, looking through undici's wrapping (`cause`). */
function errorCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && e.code !== 'UND_ERR_SOCKET' && e.code !== 'UND_ERR_CONNECT') return e.code;
  }
  return undefined;
}

/** A short sentence for a request that got no answer: the error's kind, never a header or a secret. */
export function describeSendError(err: unknown, timedOut: boolean, timeoutMs: number): string {
  if (timedOut) return `no answer within ${timeoutMs} ms`;
  const code = errorCode(err);
  const message = (err as { message?: unknown })?.message;
  const inner = (err as { cause?: { message?: unknown } })?.cause?.message;
  if (code === 'EWEBHOOKADDRESS') return `refused: ${String(inner ?? message)}`;
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    UND_ERR_HEADERS_TIMEOUT: `no answer within ${timeoutMs} ms`,
    UND_ERR_BODY_TIMEOUT: `no answer within ${timeoutMs} ms`,
  };
  const text = (code && known[code]) ?? `request failed: ${String(inner ?? message ?? err)}`;
  const withCode = code && known[code] ? `${text} (${code})` : text;
  return redact(withCode).slice(0, ERROR_MAX_CHARS);
}

export function createWebhookSender({ allowHosts, timeoutMs }: WebhookSenderOptions): WebhookSender {
  const agent = new Agent({
    connect: { lookup: guardedLookup(allowHosts), timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    // endpoints often get several deliveries in a row; an idle connection is not worth keeping longer
    keepAliveTimeout: 4_000,
  });

  async function send(req: WebhookRequest, signal?: AbortSignal): Promise<SendOutcome> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const problem = webhookUrlProblem(req.url, allowHosts);
    if (problem) return { statusCode: null, error: `refused: the URL ${problem}`, durationMs: 0, snippet: null };

    const headers = {
      ...signedHeaders(req.secrets, req.messageId, req.timestampS ?? Math.floor(Date.now() / 1000), req.body),
      'content-type': 'application/json',
      'user-agent': WEBHOOK_USER_AGENT,
    };
    const deadline = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    try {
      const res = await request(req.url, { method: 'POST', dispatcher: agent, headers, body: req.body, signal: combined });
      // the status is the answer; a body that stalls or breaks off only costs the snippet
      const snippet = await readSnippet(res.body).catch(() => null);
      return { statusCode: res.statusCode, error: null, durationMs: elapsed(), snippet };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      return { statusCode: null, error: describeSendError(err, deadline.aborted, timeoutMs), durationMs: elapsed(), snippet: null };
    }
  }

  return { send, close: () => agent.close() };
}
