/**
 * `npm run api`: serves the HTTP API (src/api/server.ts). SIGINT/SIGTERM stop it gracefully: no new
 * connections, open event streams end, in-flight requests get a moment, then the Postgres pool and the
 * Temporal connection close (exit 0; 1 if that fails). A second signal exits at once.
 */
import { createLogger } from '../logging/logger.js';
import { runMain } from '../process/run-main.js';
import { startApi } from './server.js';

runMain(async ({ config }) => {
  const logger = createLogger({ component: 'api' });
  const api = await startApi({ config, logger });
  logger.info('api listening', { url: api.url, docs: `${api.url}/docs`, openapi: `${api.url}/openapi.json` });
  return async (signal) => {
    logger.info('api stopping', { signal });
    try {
      await api.close();
    } catch (err) {
      logger.error('api did not stop cleanly', { err });
      throw err;
    }
    logger.info('api stopped');
  };
});
