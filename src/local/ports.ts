/**
 * Local TCP ports: one free right now (for servers started by tests and the benchmark), and whether something
 * already answers on one (so the dev launcher can say which port is taken before starting anything).
 */
import { connect, createServer, type AddressInfo } from 'node:net';

/** A TCP port free on 127.0.0.1 right now (nothing listens on it: connections to it are refused). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on host:port. */
export function portAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
