/**
 * Local HTTP forward proxies for the demo, the tests and the benchmark.
 *
 * Each proxy accepts CONNECT tunnels and absolute-form requests, optionally demands Basic auth (407 without
 * it), and opens its outgoing connections from a loopback address of its own (127.0.0.2, 127.0.0.3, ...).
 * The upstream simulator limits rates per client address, so each proxy is limited on its own exactly as a
 * real pool of proxies would be. Linux routes all of 127.0.0.0/8 to the loopback interface, so binding to
 * those addresses needs no setup.
 */
import http from 'node:http';
import net from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { RequestError, Server, type PrepareRequestFunctionOpts, type PrepareRequestFunctionResult } from 'proxy-chain';

export interface ForwardProxyAuth {
  username: string;
  password: string;
}

export interface StartForwardProxiesOptions {
  count: number;
  auth?: ForwardProxyAuth;
  host?: string;
  /** Last octet of the first outgoing loopback address: 2 means 127.0.0.2, then .3, and so on. */
  firstLocalAddress?: number;
}

export interface ForwardProxy {
  /** `http://host:port`, no credentials: what the pool stores and the API shows. */
  url: string;
  /** `http://user:pass@host:port` when auth is on, else the same as `url`. */
  urlWithCredentials: string;
  username?: string;
  password?: string;
  port: number;
  /** The address this proxy's outgoing connections come from. */
  localAddress: string;
}

export interface ForwardProxies {
  proxies: ForwardProxy[];
  close(): Promise<void>;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startForwardProxies(options: StartForwardProxiesOptions): Promise<ForwardProxies> {
  const { count, auth, host = '127.0.0.1', firstLocalAddress = 2 } = options;
  if (!Number.isInteger(count) || count < 0) throw new RangeError('count must be a whole number >= 0');
  if (firstLocalAddress < 1 || firstLocalAddress + count - 1 > 254) {
    throw new RangeError('outgoing loopback addresses must stay within 127.0.0.1..127.0.0.254');
  }

  const servers: Server[] = [];
  const agents: http.Agent[] = [];
  const proxies: ForwardProxy[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const localAddress = `127.0.0.${firstLocalAddress + i}`;
      // Absolute-form requests go through a keep-alive agent bound to the same address as the tunnels.
      const httpAgent = new http.Agent({ keepAlive: true, localAddress });
      agents.push(httpAgent);
      const prepareRequestFunction = async (req: PrepareRequestFunctionOpts): Promise<PrepareRequestFunctionResult> => {
        const authenticated =
          !auth || (sameSecret(req.username, auth.username) && sameSecret(req.password, auth.password));
        if (!authenticated) return { requestAuthentication: true };
        // proxy-chain closes a tunnel whose target cannot be reached without a word; a real proxy answers the
        // CONNECT with 502, which tells its client the upstream is down, not the proxy
        if (!req.isHttp && !(await reachable(req.hostname, Number(req.port), localAddress))) {
          throw new RequestError(`cannot reach ${req.hostname}:${req.port}`, 502);
        }
        return { localAddress, httpAgent };
      };
      const server = new Server({ port: 0, host, prepareRequestFunction, verbose: false });
      await server.listen();
      servers.push(server);
      const url = `http://${host}:${server.port}`;
      const urlWithCredentials = auth
        ? `http://${encodeURIComponent(auth.username)}:${encodeURIComponent(auth.password)}@${host}:${server.port}`
        : url;
      proxies.push({
        url,
        urlWithCredentials,
        ...(auth ? { username: auth.username, password: auth.password } : {}),
        port: server.port,
        localAddress,
      });
    }
  } catch (err) {
    await closeAll(servers, agents);
    throw err;
  }

  return { proxies, close: () => closeAll(servers, agents) };
}

/** Whether a TCP connection to the target opens from `localAddress` (closed again at once). */
function reachable(host: string, port: number, localAddress: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, localAddress, timeout: 5_000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

async function closeAll(servers: Server[], agents: http.Agent[]): Promise<void> {
  // `true` drops open tunnels: keep-alive clients would otherwise hold the servers open.
  await Promise.all(servers.map((s) => s.close(true)));
  for (const agent of agents) agent.destroy();
}
