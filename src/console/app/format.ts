/** How numbers, times and states read on the page. */
import type { StallReason } from '../../enums.js';
import type { ApiBatch } from './api.js';

const numberFormat = new Intl.NumberFormat('en');

export const count = (n: number) => numberFormat.format(n);

export function percent(rate: number): string {
  return `${(Math.floor(rate * 1000) / 10).toFixed(1)}%`;
}

/** `12 s ago`, `3 min ago`, or the date for anything older than a day; an em dash for never. */
export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return '—';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 0) return `in ${duration(-s)}`;
  if (s < 5) return 'just now';
  if (s < 86_400) return `${duration(s)} ago`;
  return dateTime(iso);
}

export function dateTime(iso: string | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return `${d.toISOString().slice(0, 10)} ${d.toTimeString().slice(0, 8)}`;
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

/** Why a batch is stalled, in words, with what to do about it. */
export const STALL_REASON_TEXT: Record<StallReason, string> = {
  no_usable_proxy:
    'No proxy can send: every proxy is disabled or resting after rate limits. Enable or add a proxy on the Proxies page; the batch goes on by itself.',
  upstream_unreachable:
    'The story source cannot be reached through the proxies (an upstream outage). The batch goes on by itself when it answers again.',
  no_valid_session:
    'No valid upstream session is left. Add a session, or validate one, on the Proxies page; the batch goes on by itself.',
  queue_held: 'The queue is held, so nothing is sent. Resume the queue to go on.',
};

export function stallText(batch: Pick<ApiBatch, 'stalled_reason'>): string | null {
  if (!batch.stalled_reason) return null;
  return STALL_REASON_TEXT[batch.stalled_reason as StallReason] ?? `Stalled: ${batch.stalled_reason.replace(/_/g, ' ')}.`;
}

/** Splits pasted usernames: one per line, or separated by commas or spaces; a leading `@` is the API's to drop. */
export function splitUsernames(text: string): string[] {
  return text.split(/[\s,;]+/).filter((u) => u !== '');
}

/**
 * Checks per second: the live rate measured from the event stream when there is one, else the average since
 * the batch started (null before it has).
 */
export function checkRate(live: number | null, batch: Pick<ApiBatch, 'started_at' | 'completed_profiles' | 'status'>, now = Date.now()): number | null {
  if (batch.status !== 'running') return null;
  if (live !== null) return live;
  if (!batch.started_at) return null;
  const seconds = (now - Date.parse(batch.started_at)) / 1000;
  return seconds >= 1 ? batch.completed_profiles / seconds : null;
}
