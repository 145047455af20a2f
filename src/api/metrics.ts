/**
 * The API's series, read from Postgres at scrape time: the queue, the running batch, the proxies. They
 * describe state every process shares, so one API answers them for the whole service. One scrape runs three
 * small queries at once, whatever the number of batches, profiles or proxies: batches counted by status (an
 * index-only scan), the running batch's counters plus its in-flight rows (a partial index), and one row per
 * proxy. Labels are closed sets and a proxy's `host:port`: never an id, a username or a secret.
 */
import { Gauge, Registry } from 'prom-client';
import type { Sql } from '../db/sql.js';
import { BATCH_PROFILE_STATUSES, BATCH_STATUSES, PROXY_STATUSES, STALL_REASONS, type ProxyStatus, type StallReason } from '../enums.js';
import { effectiveStatus } from '../repos/proxies.js';
import { proxyLabel } from '../metrics/labels.js';
import { CONTENT_TYPE, exposition, processRegistry } from '../metrics/process.js';

interface Snapshot {
  paused: boolean;
  batches: Map<string, number>;
  running: { pending: number; running: number; completed: number; failed: number; stalledReason: StallReason | null } | null;
  proxies: Array<{ label: string; state: ProxyStatus; learnedRatePerS: number | null }>;
}

async function readSnapshot(sql: Sql): Promise<Snapshot> {
  const [queue, batch, proxies] = await Promise.all([
    sql<{ paused: boolean | null; batches: Record<string, number> }[]>`
      select (select paused from queue_state where singleton) as paused,
        coalesce((select json_object_agg(status, n) from (select status, count(*)::int as n from batches group by status) s), '{}') as batches`,
    sql<{ total: number; completed: number; failed: number; running: number; stalled_reason: StallReason | null }[]>`
      select b.total_profiles as total, b.successful_checks as completed, b.failed_checks as failed, b.stalled_reason,
        (select count(*)::int from batch_profiles bp where bp.batch_id = b.id and bp.status = 'running') as running
      from batches b where b.status = 'running' limit 1`,
    sql<{ url: string; status: ProxyStatus; rate_limited_until: Date | null; learned_rate_per_s: number | null }[]>`
      select url, status, rate_limited_until, learned_rate_per_s from proxies`,
  ]);
  const row = batch[0];
  const now = new Date();
  return {
    paused: queue[0]?.paused ?? false,
    batches: new Map(Object.entries(queue[0]?.batches ?? {})),
    running: row
      ? {
          // completed and failed are the batch's own counters, raised in the same transaction as the rows
          pending: Math.max(0, row.total - row.completed - row.failed - row.running),
          running: row.running,
          completed: row.completed,
          failed: row.failed,
          stalledReason: row.stalled_reason,
        }
      : null,
    proxies: proxies.map((p) => ({ label: proxyLabel(p.url), state: effectiveStatus(p, now), learnedRatePerS: p.learned_rate_per_s })),
  };
}

export interface ApiMetrics {
  registry: Registry;
  /** One scrape: the process's series and these, as Prometheus text. */
  render(): Promise<{ contentType: string; body: string }>;
}

export function createApiMetrics({ sql }: { sql: Sql }): ApiMetrics {
  const registry = new Registry();
  const snapshot = sharedSnapshot(sql);
  // registered in the order a scrape lists them: the queue, the running batch, the proxies
  registerQueueGauges(registry, snapshot);
  registerBatchGauges(registry, snapshot);
  registerProxyGauges(registry, snapshot);
  return {
    registry,
    async render() {
      return { contentType: CONTENT_TYPE, body: await exposition([processRegistry(), registry]) };
    },
  };
}

type ReadSnapshot = () => Promise<Snapshot>;

/** Every gauge's collect() of one scrape shares one snapshot (they are called together). */
function sharedSnapshot(sql: Sql): ReadSnapshot {
  let reading: Promise<Snapshot> | null = null;
  return () => {
    reading ??= readSnapshot(sql).finally(() => {
      reading = null;
    });
    return reading;
  };
}

function registerQueueGauges(registry: Registry, snapshot: ReadSnapshot): void {
  new Gauge({
    name: 'storycheck_queue_batches',
    help: 'Batches by status.',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const { batches } = await snapshot();
      for (const state of BATCH_STATUSES) this.set({ state }, batches.get(state) ?? 0);
    },
  });
  new Gauge({
    name: 'storycheck_queue_paused',
    help: '1 while the queue is held (POST /queue/pause): no upstream request is sent until it is resumed.',
    registers: [registry],
    async collect() {
      this.set((await snapshot()).paused ? 1 : 0);
    },
  });
}

function registerBatchGauges(registry: Registry, snapshot: ReadSnapshot): void {
  new Gauge({
    name: 'storycheck_batch_profiles',
    help: "The running batch's profiles by state (all 0 when no batch runs).",
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const { running } = await snapshot();
      for (const state of BATCH_PROFILE_STATUSES) this.set({ state }, running?.[state] ?? 0);
    },
  });
  new Gauge({
    name: 'storycheck_batch_stalled',
    help: '1 while the running batch is stalled: nothing could be sent for BATCH_STALL_AFTER_MS (its reason in storycheck_batch_stalled_reason).',
    registers: [registry],
    async collect() {
      this.set((await snapshot()).running?.stalledReason ? 1 : 0);
    },
  });
  new Gauge({
    name: 'storycheck_batch_stalled_reason',
    help: "1 for the reason the running batch is stalled, 0 for the others (all 0 when it is not).",
    labelNames: ['reason'],
    registers: [registry],
    async collect() {
      const reason = (await snapshot()).running?.stalledReason ?? null;
      for (const r of STALL_REASONS) this.set({ reason: r }, r === reason ? 1 : 0);
    },
  });
}

function registerProxyGauges(registry: Registry, snapshot: ReadSnapshot): void {
  new Gauge({
    name: 'storycheck_proxy_state',
    help: 'Per proxy (host:port), 1 for its status as the API shows it (active, cooling_down, disabled) and 0 for the others.',
    labelNames: ['proxy', 'state'],
    registers: [registry],
    async collect() {
      const { proxies } = await snapshot();
      this.reset();
      for (const p of proxies) {
        // two proxies at one host:port (http and https) add up rather than hide each other
        for (const state of PROXY_STATUSES) this.inc({ proxy: p.label, state }, state === p.state ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'storycheck_proxy_learned_rate_per_s',
    help: "Per proxy (host:port), the request rate it sustains without 429s, learned from its answers (absent until its first 429).",
    labelNames: ['proxy'],
    registers: [registry],
    async collect() {
      const { proxies } = await snapshot();
      this.reset();
      for (const p of proxies) if (p.learnedRatePerS !== null) this.inc({ proxy: p.label }, p.learnedRatePerS);
    },
  });
}
