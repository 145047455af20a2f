/**
 * Local forward proxies that are also in the pool: started (src/local/forward-proxies.ts) and registered in
 * the proxies table with their Basic auth, as an operator would add real ones. `npm run dev`, the benchmark
 * and the tests' stacks all start theirs here.
 */
import type { Sql } from '../db/sql.js';
import { ConflictError } from '../repos/errors.js';
import { createProxy } from '../repos/proxies.js';
import { startForwardProxies, type ForwardProxies, type ForwardProxyAuth } from '../local/forward-proxies.js';

export interface PoolProxies extends ForwardProxies {
  /** Rows of earlier runs' proxies removed first (see `replacePrevious`). */
  replaced: number;
}

export interface PoolProxiesOptions {
  count: number;
  auth: ForwardProxyAuth;
  host?: string;
  /**
   * Remove first the stored proxies with this user name: an earlier run's, whose ports are gone. Proxies added
   * by hand are left alone.
   */
  replacePrevious?: boolean;
}

export async function startPoolProxies(sql: Sql, options: PoolProxiesOptions): Promise<PoolProxies> {
  const { replacePrevious = false, ...forward } = options;
  const proxies = await startForwardProxies(forward);
  try {
    const replaced = replacePrevious ? (await sql`delete from proxies where username = ${options.auth.username} returning id`).length : 0;
    for (const p of proxies.proxies) await registerProxy(sql, p.url, options.auth);
    return Object.assign(proxies, { replaced });
  } catch (err) {
    await proxies.close();
    throw err;
  }
}

/** One already stored at the same address is kept (a hand-added one, say). */
async function registerProxy(sql: Sql, url: string, auth: ForwardProxyAuth): Promise<void> {
  try {
    await createProxy(sql, { url, username: auth.username, password: auth.password });
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
  }
}
