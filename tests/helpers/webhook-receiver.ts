/**
 * A webhook receiver for tests: a real HTTP server on loopback that keeps every request it gets and checks each
 * one's signature with the `standardwebhooks` package (the Standard Webhooks reference code, not storycheck's),
 * against every secret it is told to hold. What it answers is up to the test.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedRequest {
  /** Arrival order, from 0. */
  index: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** When its body had arrived (this process's clock). */
  receivedAt: Date;
  /** The secrets (of those the receiver holds) this request's signature verifies with. */
  verifiedWith: string[];
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export type Answerer = (req: ReceivedRequest) => Answer | Promise<Answer>;

export interface Receiver {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Requests whose webhook-id is `messageId`. */
  requestsOf(messageId: string): ReceivedRequest[];
  close(): Promise<void>;
}

/** Whether `secret` verifies the request, by the reference library's own rules (timestamp tolerance included). */
export function verifiesWith(secret: string, body: string, headers: Record<string, string>): boolean {
  try {
    new Webhook(secret).verify(body, headers);
    return true;
  } catch {
    return false;
  }
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Starts a receiver holding `secrets()` (read at each request, so a test can change them), answering with
 * `answer` (by default 200 to a request that verifies with any secret held, 401 otherwise).
 */
export async function startReceiver(options: { secrets: () => readonly string[]; answer?: Answerer }): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const answer: Answerer = options.answer ?? ((r) => (r.verifiedWith.length > 0 ? { status: 200, body: 'ok' } : { status: 401, body: 'bad signature' }));
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    open.add(res);
    res.once('close', () => open.delete(res));
    void (async () => {
      const body = await readBody(req);
      const headers = flatHeaders(req);
      const received: ReceivedRequest = {
        index: requests.length,
        method: req.method ?? '',
        path: req.url ?? '',
        headers,
        body,
        receivedAt: new Date(),
        verifiedWith: options.secrets().filter((s) => verifiesWith(s, body, headers)),
      };
      requests.push(received);
      const a = await answer(received);
      if (res.destroyed) return;
      res.writeHead(a.status, a.headers).end(a.body ?? '');
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    requestsOf: (messageId) => requests.filter((r) => r.headers['webhook-id'] === messageId),
    async close() {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
