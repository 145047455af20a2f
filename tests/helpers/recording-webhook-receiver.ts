/**
 * A webhook receiver as a consumer would run one: a real HTTP server on a free loopback port that checks every
 * request with the `standardwebhooks` package (the open spec's own code, not storycheck's signing) and records
 * what came: the `webhook-id`, the body's type and data, when it arrived and whether its signature verified.
 * The end-to-end proof (tests/fault/watch-webhooks.test.ts) and the `watch_fanout` benchmark
 * (bench/watch-fanout.ts) read their figures from these records.
 *
 * The secret is only known once the endpoint exists (POST /webhooks answers it), after the receiver's URL was
 * needed to create it: `trust(secret)` adds it later. A request verifies when any trusted secret verifies it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One request as the receiver saw it. */
export interface ReceivedWebhook {
  /** The `webhook-id` header: the same on every retry of one delivery. */
  webhookId: string;
  /** The body's `type` (story.posted, ping, ...), null when the body was not the expected JSON. */
  type: string | null;
  /** The body's `timestamp`. */
  timestamp: string | null;
  // the body's data is whatever the event carries; each reader asserts the fields it relies on
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
  /** When the request's body had arrived (this process's clock, the one the other stamps share on this machine). */
  receivedAt: Date;
  /** Whether a trusted secret verified its signature (and its timestamp is within the package's tolerance). */
  verified: boolean;
  /** Why it did not verify. */
  error: string | null;
  /** The status the receiver answered. */
  status: number;
}

export interface WebhookReceiver {
  /** Where to send: `http://127.0.0.1:<port>/hook`. */
  readonly url: string;
  /** Every request so far, in arrival order (the array grows in place). */
  readonly received: ReceivedWebhook[];
  /** Adds a secret (`whsec_...`) that signatures are checked against. */
  trust(secret: string): void;
  close(): Promise<void>;
}

export interface WebhookReceiverOptions {
  /** The status to answer a request with (default: 200 to every request). */
  answer?: (request: ReceivedWebhook) => number;
  /** Called with each request once recorded. */
  onReceive?: (request: ReceivedWebhook) => void;
}

/** The request's body, whole, as text (the signature covers its exact bytes). */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function headerOf(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

/** Whether one of the secrets verifies the request, and the last verifier's complaint when none does. */
function verify(verifiers: readonly Webhook[], body: string, headers: Record<string, string>): { verified: boolean; error: string | null } {
  if (verifiers.length === 0) return { verified: false, error: 'no secret trusted yet' };
  let error = 'no secret verified it';
  for (const verifier of verifiers) {
    try {
      verifier.verify(body, headers);
      return { verified: true, error: null };
    } catch (err) {
      error = (err as Error).message;
    }
  }
  return { verified: false, error };
}

function parse(body: string): { type: string | null; timestamp: string | null; data: unknown } {
  try {
    const parsed = JSON.parse(body) as { type?: unknown; timestamp?: unknown; data?: unknown };
    return {
      type: typeof parsed.type === 'string' ? parsed.type : null,
      timestamp: typeof parsed.timestamp === 'string' ? parsed.timestamp : null,
      data: parsed.data ?? null,
    };
  } catch {
    return { type: null, timestamp: null, data: null };
  }
}

export async function startWebhookReceiver(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  const verifiers: Webhook[] = [];
  const received: ReceivedWebhook[] = [];
  const server: Server = createServer((req, res) => {
    readBody(req).then(
      (body) => {
        const headers = {
          'webhook-id': headerOf(req, 'webhook-id'),
          'webhook-timestamp': headerOf(req, 'webhook-timestamp'),
          'webhook-signature': headerOf(req, 'webhook-signature'),
        };
        const request: ReceivedWebhook = {
          webhookId: headers['webhook-id'],
          ...parse(body),
          receivedAt: new Date(),
          ...verify(verifiers, body, headers),
          status: 200,
        };
        request.status = options.answer?.(request) ?? 200;
        received.push(request);
        options.onReceive?.(request);
        res.writeHead(request.status, { 'content-type': 'text/plain' }).end(request.verified ? 'ok' : 'unverified');
      },
      () => res.writeHead(400).end(),
    );
  });
  // a sender's kept-alive connections must not hold close() up
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    trust(secret) {
      verifiers.push(new Webhook(secret));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
