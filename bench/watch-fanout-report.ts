/**
 * The figures of the `watch_fanout` scenario (bench/watch-fanout.ts) from what it recorded, and the block printed
 * after the summary table. Pure, so that tests/unit/bench-format.test.ts covers it.
 *
 * Goals (printed with pass / MISS, never failing the run): every new item reached every endpoint, no item was
 * announced twice to one endpoint (two different webhook-ids), and every request verified.
 */
import { percentile } from './api-load-report.js';
import { round, type ScenarioFigures } from './figures.js';
import { goalLines, thousands, type Goal } from './goals.js';

/** One delivery as an endpoint's receiver saw it: its first arrival, and the item it names. */
export interface ReceivedDelivery {
  endpoint: number;
  webhookId: string;
  /** `<profile_id>/<item_pk>` of the item announced. */
  item: string;
  receivedAtMs: number;
  /** Times the same webhook-id arrived in all (a retry of a delivery that did arrive). */
  arrivals: number;
  verified: boolean;
}

/** A new item of a measured watch batch: when the batch first saw it. */
export interface NewItem {
  item: string;
  firstSeenAtMs: number;
  batchId: string;
}

/** A measured watch batch. */
export interface WatchBatch {
  id: string;
  profiles: number;
  /** Created (the tick) to completed, seconds. */
  seconds: number;
}

export interface BatchFanout {
  profiles: number;
  seconds: number;
  new_items: number;
  deliveries: number;
  /** From the batch's first sighting of a new item to its last delivery, seconds. */
  delivery_span_s: number | null;
  deliveries_per_s: number | null;
}

export interface WatchFanoutExtras {
  watched_profiles: number;
  endpoints: number;
  every_s: number;
  story_post_every_s: number;
  story_ttl_s: number;
  batches: BatchFanout[];
  batch_s_median: number | null;
  batch_s_max: number | null;
  new_items: number;
  deliveries_expected: number;
  /** Distinct webhook-ids received for the new items, over every endpoint. */
  deliveries: number;
  /** From the first delivery received to the last, seconds. */
  delivery_span_s: number | null;
  deliveries_per_s: number | null;
  /** The best batch: its deliveries over the span from its first sighting to its last delivery. */
  peak_deliveries_per_s: number | null;
  sighting_to_delivery_ms: { p50: number | null; p99: number | null; max: number | null };
  /** Arrivals of a webhook-id already received (retries of a delivery that had arrived). */
  duplicates: number;
  /** (endpoint, item) pairs announced under more than one webhook-id. */
  announced_twice: number;
  unverified: number;
  /** Deliveries of new items an endpoint received that name no new item of a measured batch. */
  unexpected: number;
  goals: Goal[];
}

export interface FanoutInput {
  setting: Pick<WatchFanoutExtras, 'watched_profiles' | 'endpoints' | 'every_s' | 'story_post_every_s' | 'story_ttl_s'>;
  batches: WatchBatch[];
  items: NewItem[];
  received: ReceivedDelivery[];
}

const rate = (n: number, seconds: number | null) => (seconds && seconds > 0 ? round(n / seconds, 1) : null);

/** Each batch's deliveries and how fast they went out. */
function perBatch(input: FanoutInput, deliveriesOf: Map<string, ReceivedDelivery[]>): BatchFanout[] {
  return input.batches.map((b) => {
    const items = input.items.filter((i) => i.batchId === b.id);
    const received = items.flatMap((i) => deliveriesOf.get(i.item) ?? []);
    const firstSeen = Math.min(...items.map((i) => i.firstSeenAtMs));
    const last = Math.max(...received.map((r) => r.receivedAtMs));
    const span = received.length ? round((last - firstSeen) / 1000, 2) : null;
    return { profiles: b.profiles, seconds: round(b.seconds, 2), new_items: items.length, deliveries: received.length, delivery_span_s: span, deliveries_per_s: rate(received.length, span) };
  });
}

export function fanoutFigures(input: FanoutInput): WatchFanoutExtras {
  const firstSeen = new Map(input.items.map((i) => [i.item, i.firstSeenAtMs]));
  const deliveriesOf = new Map<string, ReceivedDelivery[]>();
  for (const r of input.received) {
    if (!firstSeen.has(r.item)) continue;
    deliveriesOf.set(r.item, [...(deliveriesOf.get(r.item) ?? []), r]);
  }
  const counted = [...deliveriesOf.values()].flat();
  const latencies = counted.map((r) => r.receivedAtMs - firstSeen.get(r.item)!).sort((a, b) => a - b);
  const times = counted.map((r) => r.receivedAtMs);
  const span = counted.length ? round((Math.max(...times) - Math.min(...times)) / 1000, 2) : null;
  const perEndpointItem = new Map<string, number>();
  for (const r of counted) perEndpointItem.set(`${r.endpoint} ${r.item}`, (perEndpointItem.get(`${r.endpoint} ${r.item}`) ?? 0) + 1);
  const batches = perBatch(input, deliveriesOf);
  const seconds = input.batches.map((b) => b.seconds).sort((a, b) => a - b);
  const figures = {
    ...input.setting,
    batches,
    batch_s_median: seconds.length ? round(seconds[Math.floor((seconds.length - 1) / 2)]!, 2) : null,
    batch_s_max: seconds.length ? round(seconds[seconds.length - 1]!, 2) : null,
    new_items: input.items.length,
    deliveries_expected: input.items.length * input.setting.endpoints,
    deliveries: new Set(counted.map((r) => `${r.endpoint} ${r.webhookId}`)).size,
    delivery_span_s: span,
    deliveries_per_s: rate(counted.length, span),
    peak_deliveries_per_s: batches.reduce<number | null>((best, b) => (b.deliveries_per_s !== null && (best === null || b.deliveries_per_s > best) ? b.deliveries_per_s : best), null),
    sighting_to_delivery_ms: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: percentile(latencies, 1) },
    duplicates: input.received.reduce((sum, r) => sum + r.arrivals - 1, 0),
    announced_twice: [...perEndpointItem.values()].filter((n) => n > 1).length,
    unverified: input.received.filter((r) => !r.verified).length,
    unexpected: input.received.filter((r) => !firstSeen.has(r.item)).length,
  };
  return { ...figures, goals: fanoutGoals(figures) };
}

function fanoutGoals(f: Omit<WatchFanoutExtras, 'goals'>): WatchFanoutExtras['goals'] {
  return [
    { goal: 'every new item reached every endpoint', met: f.deliveries === f.deliveries_expected && f.unexpected === 0, actual: `${thousands(f.deliveries)} of ${thousands(f.deliveries_expected)}, ${f.unexpected} unexpected` },
    { goal: 'no item announced twice to an endpoint', met: f.announced_twice === 0, actual: `${f.announced_twice}` },
    { goal: 'every request verified (standardwebhooks)', met: f.unverified === 0, actual: `${f.unverified} unverified` },
  ];
}

const orDash = (v: number | null, unit = '') => (v === null ? '-' : `${thousands(v)}${unit}`);
/** A rate: one decimal below 10 per second, whole above. */
const perS = (v: number | null) => (v === null ? '-' : `${v < 10 ? v.toFixed(1) : thousands(v)}/s`);

/** The printed block: the setting, each measured batch, the delivery figures, then the goals. */
export function formatWatchFanout(s: ScenarioFigures & WatchFanoutExtras): string {
  const l = s.sighting_to_delivery_ms;
  const lines = [
    `watch_fanout: a watch every ${s.every_s} s over ${thousands(s.watched_profiles)} profiles of a niche, ${s.endpoints} webhook endpoints for story.posted ` +
      `(each posting lane every ${s.story_post_every_s} s, items live ${s.story_ttl_s} s)`,
    ...s.batches.map(
      (b, i) =>
        `  batch ${i + 1}: ${thousands(b.profiles)} profiles in ${b.seconds} s, ${thousands(b.new_items)} new items, ${thousands(b.deliveries)} deliveries` +
        ` in ${b.delivery_span_s ?? '-'} s from the first sighting (${perS(b.deliveries_per_s)})`,
    ),
    `  batch time: median ${s.batch_s_median ?? '-'} s, max ${s.batch_s_max ?? '-'} s`,
    `  first sighting → delivery: p50 ${orDash(l.p50, ' ms')}, p99 ${orDash(l.p99, ' ms')}, max ${orDash(l.max, ' ms')}`,
    `  ${thousands(s.deliveries)} deliveries of ${thousands(s.new_items)} new items in ${s.delivery_span_s ?? '-'} s: ${perS(s.deliveries_per_s)} (best batch ${perS(s.peak_deliveries_per_s)}); ` +
      `${s.duplicates} duplicate arrivals (same webhook-id again)`,
  ];
  lines.push(...goalLines(s.goals));
  return lines.join('\n');
}
