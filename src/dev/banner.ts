/**
 * What `npm run dev` prints once everything is up: where each part listens and a few commands to paste.
 * Plain text for a person (the JSON log lines around it are for machines). It holds no secret: proxies are
 * shown without credentials, the database URL passes through `redact`, and the API key is referenced as
 * `$API_KEY`, never spelled out.
 */
import { redact } from '../redact.js';

export interface BannerInfo {
  apiUrl: string;
  apiKeySet: boolean;
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  /** Null when the server is an external one (TEMPORAL_ADDRESS). */
  uiUrl: string | null;
  simulatorUrl: string;
  proxyUrls: string[];
  databaseUrl: string;
  dataDir: string | null;
  demoBatch: { id: string; totalProfiles: number; created: boolean } | null;
}

export function webUiBatchLink(uiUrl: string, namespace: string, batchId: string): string {
  return `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows?query=${encodeURIComponent(`BatchId="${batchId}"`)}`;
}

export function renderBanner(info: BannerInfo): string {
  const api = info.apiUrl;
  const auth = info.apiKeySet ? ' -H "Authorization: Bearer $API_KEY"' : '';
  const rows: Array<[string, string]> = [
    ['API', api],
    ['API docs', `${api}/docs  (OpenAPI document: ${api}/openapi.json)`],
    ['Temporal', `${info.temporalAddress}  (namespace ${info.namespace}, task queue ${info.taskQueue})`],
    ['Web UI', info.uiUrl ? `${info.uiUrl}/namespaces/${encodeURIComponent(info.namespace)}/workflows` : 'the one of the server at TEMPORAL_ADDRESS'],
    ['Simulator', `${info.simulatorUrl}  (what it saw: ${info.simulatorUrl}/__sim/stats)`],
    ['Proxies', `${info.proxyUrls.length} local forward proxies with Basic auth: ${info.proxyUrls.join(', ')}`],
    ['Postgres', redact(info.databaseUrl)],
  ];
  if (info.dataDir) rows.push(['Data', `${info.dataDir}  (Temporal SQLite file and server log)`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = ['', 'storycheck is running', ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`), ''];

  const batch = info.demoBatch;
  if (batch) {
    lines.push(
      `Demo batch ${batch.id} (${batch.totalProfiles} profiles) ${batch.created ? 'created and started' : 'was already queued or running; it carries on'}.`,
    );
    if (info.uiUrl) lines.push(`  In the Web UI: ${webUiBatchLink(info.uiUrl, info.namespace, batch.id)}`);
    lines.push(
      '',
      'Try:',
      `  curl -s${auth} ${api}/batches/${batch.id}`,
      `  curl -sN${auth} ${api}/batches/${batch.id}/events`,
      `  curl -s${auth} "${api}/batches/${batch.id}/logs?event_type=CHECK_FAILED"`,
    );
  } else {
    lines.push('Try:');
  }
  lines.push(
    `  curl -s${auth} -X POST ${api}/batches -H 'content-type: application/json' -d '{"name":"mine","usernames":["alice","bob","missing_carol"]}'`,
    `  curl -s${auth} ${api}/queue`,
    '',
    'Ctrl-C stops everything.',
    '',
  );
  return lines.join('\n');
}
