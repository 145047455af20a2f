/**
 * The local webhook receiver of `npm run dev`: what a user's endpoint would be, so the demo shows webhooks
 * arriving without anything outside the machine. It accepts a POST on any path, verifies its Standard Webhooks
 * signature with the secrets it was given (`verifySignedRequest`, as a receiver is meant to), answers 204 when
 * the signature holds and 401 when not (so an unverified delivery shows as failing, and is retried), keeps the
 * last deliveries in memory and logs one line per request. `GET /` answers them as JSON, newest first, so a
 * browser shows what arrived. The secrets are never logged nor answered.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignedRequest } from '../webhooks/secret.js';

/** A larger body is refused (413): a webhook body is a few hundred bytes. */
const MAX_BODY_BYTES = 1024 * 1024;

export interface ReceivedWebhook {
  received_at: string;
  /** The `webhook-id` header: the same on every retry and redelivery of one message. */
  webhook_id: string | null;
  /** The body's `type` (`story.posted`, `ping`…), null when the body is not the JSON of a webhook. */
  type: string | null;
  verified: boolean;
  /** The parsed body, or its text when it is not JSON. */
  body: unknown;
}

export interface WebhookReceiverOptions {
  host: string;
  /** 0 (default): a free port. */
  port?: number;
  /** How many deliveries are kept (the oldest go first). */
  keep?: number;
  /** Called once per request, after it was verified. */
  onReceived?: (received: ReceivedWebhook) => void;
}

export interface WebhookReceiver {
  /** Where webhooks are sent: `http://host:port/webhooks`. */
  url: string;
  /** Where a person sees what arrived: `http://host:port/`. */
  viewUrl: string;
  /** The secrets a request may be signed with (during a rotation, the old and the new one). */
  setSecrets(secrets: readonly string[]): void;
  /** The kept deliveries, newest first. */
  received(): ReceivedWebhook[];
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function header(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  return typeof value === 'string' ? value : null;
}

function parseBody(text: string): { body: unknown; type: string | null } {
  try {
    const body = JSON.parse(text) as unknown;
    const type = (body as { type?: unknown } | null)?.type;
    return { body, type: typeof type === 'string' ? type : null };
  } catch {
    return { body: text, type: null };
  }
}

export async function startWebhookReceiver(options: WebhookReceiverOptions): Promise<WebhookReceiver> {
  const keep = options.keep ?? 100;
  let secrets: readonly string[] = [];
  const kept: ReceivedWebhook[] = [];

  const receive = async (req: IncomingMessage, res: ServerResponse) => {
    const text = await readBody(req);
    if (text === null) {
      res.writeHead(413).end();
      return;
    }
    const signed = { id: header(req, 'webhook-id'), timestamp: header(req, 'webhook-timestamp'), signature: header(req, 'webhook-signature') };
    const verified = secrets.some((secret) => verifySignedRequest(secret, signed, text));
    const received: ReceivedWebhook = { received_at: new Date().toISOString(), webhook_id: signed.id, verified, ...parseBody(text) };
    kept.unshift(received);
    kept.length = Math.min(kept.length, keep);
    options.onReceived?.(received);
    res.writeHead(verified ? 204 : 401).end();
  };

  const server = createServer((req, res) => {
    if (req.method === 'POST') {
      receive(req, res).catch(() => res.writeHead(400).end());
      return;
    }
    if ((req.method === 'GET' || req.method === 'HEAD') && (req.url ?? '/').split('?')[0] === '/') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(req.method === 'HEAD' ? undefined : JSON.stringify({ items: kept }, null, 2));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('POST webhooks to /webhooks; GET / lists what arrived\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://${options.host}:${port}`;
  return {
    url: `${base}/webhooks`,
    viewUrl: `${base}/`,
    setSecrets: (next) => (secrets = [...next]),
    received: () => [...kept],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
