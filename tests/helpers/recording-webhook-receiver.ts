/**
 * A webhook receiver as a consumer would run one: a real HTTP server on a free loopback port that checks every
 * request with the `standardwebhooks` package (the open spec's own code, not storycheck's signing) and records
 * what came: the `webhook-id`, the body's type and data, when it arrived and whether its signature verified.
 * The end-to-end proof (tests/fault/watch-webhooks.test.ts) and the `watch_fanout` benchmark
 * (bench/watch-fanout.ts) read their figures from these records.
 *
 * The secret is only known once the endpoint exists (POST /webhooks answers it), after the receiver's URL was
 * needed to create it: `trust(secret)` adds it later. A request verifies when any trusted secret verifies it.
 * The server and the verification are tests/helpers/webhook-receiver.ts's; this keeps what a consumer records.
 */
import { Webhook } from 'standardwebhooks';
import { startReceiver } from './webhook-receiver.js';

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

/** Why none of `secrets` verifies a request: the reference library's own complaint (the last one's). */
function refusal(secrets: readonly string[], body: string, headers: Record<string, string>): string {
  if (secrets.length === 0) return 'no secret trusted yet';
  let error = 'no secret verified it';
  for (const secret of secrets) {
    try {
      new Webhook(secret).verify(body, headers);
    } catch (err) {
      error = (err as Error).message;
    }
  }
  return error;
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
  const secrets: string[] = [];
  const received: ReceivedWebhook[] = [];
  const receiver = await startReceiver({
    secrets: () => secrets,
    answer: (r) => {
      const verified = r.verifiedWith.length > 0;
      const request: ReceivedWebhook = {
        webhookId: r.headers['webhook-id'] ?? '',
        ...parse(r.body),
        receivedAt: r.receivedAt,
        verified,
        error: verified ? null : refusal(secrets, r.body, r.headers),
        status: 200,
      };
      request.status = options.answer?.(request) ?? 200;
      received.push(request);
      options.onReceive?.(request);
      return { status: request.status, headers: { 'content-type': 'text/plain' }, body: verified ? 'ok' : 'unverified' };
    },
  });
  return {
    url: `${receiver.url}/hook`,
    received,
    trust: (secret) => void secrets.push(secret),
    close: () => receiver.close(),
  };
}
