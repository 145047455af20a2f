/**
 * What `npm run dev` prints once everything is up: where each part listens and a few commands to paste.
 * Plain text for a person (the JSON log lines around it are for machines). It holds no secret: proxies are
 * shown without credentials, the database URL passes through `redact`, and the API key is referenced as
 * `$API_KEY`, never spelled out. What it says of the demo batch is read when it is printed, so that it never
 * promises a run the queue holds back.
 */
import type { BatchStatus } from '../enums.js';
import { redact } from '../logging/redact.js';

export interface DemoBatchInfo {
  id: string;
  totalProfiles: number;
  /** Created by this run; false: an earlier run left it queued, running or paused. */
  created: boolean;
  status: BatchStatus;
  /** 0 = running, 1..n = place in the queue, null = outside the queue. */
  position: number | null;
}

export interface BannerInfo {
  /** The API's base URL, without a trailing slash; the dashboard is served at its root. */
  apiUrl: string;
  apiKeySet: boolean;
  /** METRICS_PUBLIC: the API's /metrics answers without the key. */
  metricsPublic?: boolean;
  /** The worker's metrics (its own and the Temporal SDK's), when it serves them. */
  workerMetricsUrl?: string | null;
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  /** Null when the server is an external one (TEMPORAL_ADDRESS). */
  uiUrl: string | null;
  simulatorUrl: string;
  /** The simulator's profile (SIM_PROFILE); friendly when absent. */
  simulatorProfile?: 'friendly' | 'realistic';
  proxyUrls: string[];
  databaseUrl: string;
  /** The data directory of the embedded Postgres this run started (null: a Postgres of the machine's). */
  postgresDataDir?: string | null;
  /** The shared copy of the binaries it runs from, when its OS user could not reach node_modules (as root). */
  postgresBinariesDir?: string | null;
  dataDir: string | null;
  /** The queue is held (POST /queue/pause, perhaps by an earlier run): nothing runs until it is resumed. */
  queueHeld: boolean;
  /** The batch running now, if any. */
  runningBatchId: string | null;
  demoBatch: DemoBatchInfo | null;
  /** The local webhook receiver and what the run made for it (absent: no receiver). */
  webhooks?: WebhookDemoInfo | null;
}

export interface WebhookDemoInfo {
  /** Where the receiver lists what it got. */
  receiverUrl: string;
  /** The demo webhook to the receiver; null when it could not be made (the log says why). */
  webhookId: string | null;
  /** The demo watch; null when it could not be made, or there are no demo profiles. */
  watch: { id: string; niche: string; everyS: number | null; created: boolean; paused: boolean } | null;
}

export function webUiBatchLink(uiUrl: string, namespace: string, batchId: string): string {
  return `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows?query=${encodeURIComponent(`BatchId="${batchId}"`)}`;
}

/** How to let a held queue run again: from a shell, or with the dashboard's button. */
function resumeQueueLine(api: string, curl: string): string {
  return `  Resume the queue: ${curl} -X POST ${api}/queue/resume  (or the Resume queue button on the dashboard)`;
}

/** What the demo batch will do, as things stand: a batch in a held queue or a paused one says how to let it run. */
function demoBatchLines(info: BannerInfo, batch: DemoBatchInfo, curl: string): string[] {
  const api = info.apiUrl;
  const what = `Demo batch ${batch.id} (${batch.totalProfiles} profiles)`;
  const resumeQueue = resumeQueueLine(api, curl);
  if (batch.status === 'paused') {
    const lines = [
      `${what} ${batch.created ? 'was created but' : 'already existed and'} is paused, outside the queue: it does not run until it is resumed.`,
      `  Resume it: ${curl} -X POST ${api}/batches/${batch.id}/resume`,
    ];
    if (info.queueHeld) lines.push('The queue is held as well: once resumed, the batch still waits until the queue is resumed.', resumeQueue);
    return lines;
  }
  if (batch.status !== 'queued' && batch.status !== 'running') return [`${what} is ${batch.status}.`];
  const origin = batch.created ? 'created' : 'already existed';
  if (info.queueHeld) {
    return [`${what} ${origin}, but it waits behind a held queue: nothing runs until the queue is resumed.`, resumeQueue];
  }
  if (batch.status === 'queued' && info.runningBatchId !== null && info.runningBatchId !== batch.id) {
    return [`${what} ${origin}; it waits in the queue (place ${batch.position}) until batch ${info.runningBatchId} is no longer running.`];
  }
  if (batch.created) return [`${what} created and started.`];
  return [`${what} was already ${batch.status === 'running' ? 'running' : `queued (place ${batch.position})`}; it carries on.`];
}

/** Where Prometheus finds the API's metrics (the queue, the batch, the proxies) and the worker's. */
function metricsLine(info: BannerInfo): string {
  const api = `${info.apiUrl}/metrics${info.apiKeySet && !info.metricsPublic ? ' (with the key)' : ''}`;
  return info.workerMetricsUrl ? `${api}; worker and Temporal SDK: ${info.workerMetricsUrl}` : api;
}

/** The demo watch and webhook: what they do and where their deliveries show. */
function webhookLines(api: string, curl: string, demo: WebhookDemoInfo): string[] {
  const lines: string[] = [];
  const { watch } = demo;
  if (watch) {
    const cadence = watch.everyS === null ? 'on its cron' : `every ${watch.everyS} s`;
    const state = `${watch.created ? 'created' : 'kept from an earlier run'}${watch.paused ? ', paused' : ''}`;
    lines.push(`Demo watch ${watch.id} re-checks niche ${watch.niche} ${cadence} (${state}); see it on ${api}/#/watches`);
  }
  if (demo.webhookId) {
    lines.push(
      `Demo webhook ${demo.webhookId} sends every event to the local receiver. Deliveries:`,
      `  ${api}/#/webhooks  (the console's Webhooks page)`,
      `  ${demo.receiverUrl}  (what the receiver got, each signature verified; it logs one line per event)`,
      `  ${curl} ${api}/webhooks/${demo.webhookId}/deliveries`,
    );
  }
  return lines.length > 0 ? [...lines, ''] : [];
}

/** Which simulator profile runs, and how to run the other one. */
function simulatorProfileLine(info: BannerInfo): string {
  if (info.simulatorProfile === 'realistic') {
    return "  The simulator plays the real source (its limits, checkpoints and 5xx bursts); the friendly one: npm run dev without SIM_PROFILE";
  }
  return "  For the real source's limits, checkpoints and 5xx bursts (minutes played as seconds): SIM_PROFILE=realistic SIM_TIME_SCALE=60 npm run dev";
}

/** Where Postgres answers and, for an embedded one, where its data and (when copied out of the checkout) its binaries are. */
function postgresLine(info: BannerInfo): string {
  const url = redact(info.databaseUrl);
  if (!info.postgresDataDir) return url;
  const binaries = info.postgresBinariesDir ? `, binaries in ${info.postgresBinariesDir}` : '';
  return `${url}  (embedded, data in ${info.postgresDataDir}${binaries})`;
}

export function renderBanner(info: BannerInfo): string {
  const api = info.apiUrl;
  const auth = info.apiKeySet ? ' -H "Authorization: Bearer $API_KEY"' : '';
  const curl = `curl -s${auth}`;
  const rows: Array<[string, string]> = [
    ['Dashboard', `${api}/`],
    ['API', api],
    ['API docs', `${api}/docs  (OpenAPI document: ${api}/openapi.json)`],
    ['Temporal', `${info.temporalAddress}  (namespace ${info.namespace}, task queue ${info.taskQueue})`],
    ['Web UI', info.uiUrl ? `${info.uiUrl}/namespaces/${encodeURIComponent(info.namespace)}/workflows` : 'the one of the server at TEMPORAL_ADDRESS'],
    ['Simulator', `${info.simulatorUrl}  (what it saw: ${info.simulatorUrl}/__sim/stats)`],
    ['Proxies', `${info.proxyUrls.length} local forward proxies with Basic auth: ${info.proxyUrls.join(', ')}`],
    ['Postgres', postgresLine(info)],
    ['Metrics', metricsLine(info)],
  ];
  if (info.webhooks) rows.push(['Receiver', `${info.webhooks.receiverUrl}  (the local webhook receiver)`]);
  if (info.dataDir) rows.push(['Data', `${info.dataDir}  (Temporal SQLite file and server log)`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = ['', 'storycheck is running', ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`), simulatorProfileLine(info), ''];

  if (info.webhooks) lines.push(...webhookLines(api, curl, info.webhooks));
  const batch = info.demoBatch;
  if (batch) {
    lines.push(...demoBatchLines(info, batch, curl));
    if (info.uiUrl) lines.push(`  In the Web UI: ${webUiBatchLink(info.uiUrl, info.namespace, batch.id)}`);
    lines.push(
      '',
      'Try:',
      `  curl -s${auth} ${api}/batches/${batch.id}`,
      `  curl -sN${auth} ${api}/batches/${batch.id}/events`,
      `  curl -s${auth} "${api}/batches/${batch.id}/logs?event_type=CHECK_FAILED"`,
    );
  } else {
    if (info.queueHeld) {
      lines.push(
        'The queue is held: no batch runs until it is resumed.',
        resumeQueueLine(api, curl),
        '',
      );
    }
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
