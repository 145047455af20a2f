/**
 * Proxies that do not work, on loopback, for the pool's health tests:
 * - silent: accepts the connection and never says a word (a dead host behind a firewall that drops, as seen
 *   from the client: only its own timeout ends the wait);
 * - refused: a working tunnel to a "source" that answers every request 403, as the story source answers an
 *   address it blocks.
 */
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';

export interface MisbehavingProxies {
  /** `http://127.0.0.1:port`, one per proxy. */
  urls: string[];
  close(): Promise<void>;
}

function listen(server: net.Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

async function started(servers: net.Server[], sockets: Set<Socket>): Promise<MisbehavingProxies> {
  for (const server of servers) {
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {}); // the client gives up and resets: expected
    });
  }
  const urls = await Promise.all(servers.map(listen));
  return {
    urls,
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}

/** `count` proxies that accept a connection and never answer. */
export function startSilentProxies(count: number): Promise<MisbehavingProxies> {
  const servers = Array.from({ length: count }, () => net.createServer());
  return started(servers, new Set());
}

/** `count` proxies through which the source refuses every request with a 403 (a blocked address). */
export function startRefusedProxies(count: number): Promise<MisbehavingProxies> {
  const refuse = (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Forbidden', status: 'fail' }));
  };
  const servers = Array.from({ length: count }, () => {
    // the "source" behind the tunnel: it is never listening, it only serves the sockets handed to it
    const source = http.createServer(refuse);
    const proxy = http.createServer(refuse); // absolute-form requests, as a plain forward proxy gets them
    proxy.on('connect', (_req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) socket.unshift(head);
      source.emit('connection', socket);
    });
    return proxy;
  });
  return started(servers, new Set());
}
