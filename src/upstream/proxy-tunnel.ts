/**
 * The CONNECT step through a proxy, and what a request that got no answer at all failed of: the proxy, the way
 * to the upstream, or the connection.
 */
import { Pool, type Dispatcher } from 'undici';
import { ProxyFailure, UpstreamError, UpstreamUnreachable, type AnyUpstreamFailure } from './errors.js';

/**
 * A failure of the CONNECT step: the proxy refused the connection, answered other than 200 (407 when the
 * credentials are wrong), or closed the tunnel before opening it.
 */
export class ProxyTunnelError extends Error {
  override name = 'ProxyTunnelError';
  readonly code = 'STORYCHECK_PROXY_TUNNEL';

  constructor(
    message: string,
    readonly statusCode?: number,
    readonly causeCode?: string,
  ) {
    super(message);
  }
}

/**
 * The pool ProxyAgent sends its CONNECTs through. Wrapping its failures does two things: it tells a proxy
 * fault apart from a reset of an established tunnel (both are "other side closed" to undici), and it stops
 * a loop: undici treats a connect error coded UND_ERR_SOCKET as recoverable and would reconnect forever
 * when a proxy keeps closing the tunnel (seen with a proxy whose target is unreachable).
 */
export class TunnelPool extends Pool {
  override connect(options: PoolConnectOptions): Promise<Dispatcher.ConnectData>;
  override connect(options: PoolConnectOptions, callback: (err: Error | null, data: Dispatcher.ConnectData) => void): void;
  override connect(
    options: PoolConnectOptions,
    callback?: (err: Error | null, data: Dispatcher.ConnectData) => void,
  ): Promise<Dispatcher.ConnectData> | void {
    if (callback) return super.connect(options, callback);
    return super.connect(options).then(
      (data) => {
        if (data.statusCode === 200) return data;
        data.socket.on('error', () => {}).destroy();
        throw new ProxyTunnelError(`proxy answered ${data.statusCode} to CONNECT`, data.statusCode);
      },
      (err: unknown) => {
        const { code, message } = errorFields(err);
        throw new ProxyTunnelError(`proxy connection failed: ${message}`, undefined, code);
      },
    );
  }
}
type PoolConnectOptions = Omit<Dispatcher.ConnectOptions, 'origin'>;

function errorFields(err: unknown): { code?: string; message: string } {
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return { ...(typeof code === 'string' ? { code } : {}), message: err.message };
  }
  return { message: String(err) };
}

/** Codes of a failed direct connection: through a proxy, the only host connected to directly is the proxy. */
const PROXY_CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const RESET_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED']);

/** Turns a thrown transport error (no answer at all) into the failure it means. */
export function classifyTransportError(err: unknown, endpoint: string): AnyUpstreamFailure {
  if (err instanceof ProxyTunnelError) {
    if (err.statusCode === 407) {
      return new ProxyFailure(`${endpoint}: proxy authentication required (407)`, { status: 407, code: err.code });
    }
    if (err.statusCode !== undefined && err.statusCode >= 500) {
      return new UpstreamUnreachable(`${endpoint}: the proxy cannot reach the upstream (${err.statusCode})`, {
        status: err.statusCode,
        code: err.code,
      });
    }
    if (err.statusCode !== undefined) {
      return new ProxyFailure(`${endpoint}: proxy refused the tunnel (${err.statusCode})`, { status: err.statusCode, code: err.code });
    }
    return new ProxyFailure(`${endpoint}: ${err.message}`, { code: err.causeCode ?? err.code });
  }
  const { code, message } = errorFields(err);
  const details = code ? { code } : {};
  if (code && PROXY_CONNECT_CODES.has(code)) return new ProxyFailure(`${endpoint}: proxy unreachable: ${message}`, details);
  // Only ProxyAgent's own tunnel check raises this message (when the CONNECT was not through TunnelPool).
  if (code === 'UND_ERR_ABORTED' && /proxy response/i.test(message)) {
    const status = Number(/\((\d{3})\)/.exec(message)?.[1]);
    if (status >= 500) return new UpstreamUnreachable(`${endpoint}: the proxy cannot reach the upstream: ${message}`, { ...details, status });
    return new ProxyFailure(`${endpoint}: ${message}`, { ...details, ...(status ? { status } : {}) });
  }
  if (code && TIMEOUT_CODES.has(code)) return new UpstreamError(`${endpoint} timed out: ${message}`, details);
  if (code && RESET_CODES.has(code)) return new UpstreamError(`${endpoint}: connection reset: ${message}`, details);
  return new UpstreamError(`${endpoint}: transport error: ${message}`, details);
}
