/**
 * Local forward proxies that are also in the pool: started (src/local/forward-proxies.ts) and registered in
 * the proxies table with their Basic auth, as an operator would add real ones.
 */
import type { Sql } from '../db/sql.js';
import { createProxy } from '../repos/proxies.js';
import { startForwardProxies, type ForwardProxies, type ForwardProxyAuth } from '../local/forward-proxies.js';

export async function startPoolProxies(sql: Sql, options: { count: number; auth: ForwardProxyAuth }): Promise<ForwardProxies> {
  const proxies = await startForwardProxies(options);
  try {
    for (const p of proxies.proxies) await createProxy(sql, { url: p.url, username: options.auth.username, password: options.auth.password });
  } catch (err) {
    await proxies.close();
    throw err;
  }
  return proxies;
}
