/**
 * The texts a batch run shows in the Temporal Web UI: the child workflow's static summary and details, each
 * chunk activity's summary, and the run's current details (progress, state, stall). Pure functions of
 * recorded data, so workflow code may call them (no locale, no clock): the UI renders them as Temporal
 * markdown, so text that comes from users (a batch name, usernames) is escaped.
 */
import type { StallReason } from '../src/enums.js';

/** What names a batch in the UI: recorded in the child's input, so a continued run still knows it. */
export interface BatchLabel {
  batchId: string;
  name: string | null;
  totalProfiles: number;
}

/** Longest batch name shown in a one-line summary (the API allows longer ones). */
const NAME_MAX = 80;

/** `1234567` → `1,234,567`, the same on every worker whatever its locale. */
export function thousands(n: number): string {
  const [whole = '0', fraction] = String(n).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return fraction === undefined ? grouped : `${grouped}.${fraction}`;
}

/** `1 profile`, `1,200 profiles`. */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${thousands(n)} ${n === 1 ? one : many}`;
}

/**
 * User text as inline markdown on one line: whitespace runs (newlines too) become one space, and the
 * characters that would format or link it are backslash-escaped. An underscore inside a word
 * (`some_user`) formats nothing in markdown, and stays as it is.
 */
export function inlineText(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[\\`*[\]<>"#|~]/g, (c) => `\\${c}`)
    .replace(/(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, '\\_');
}

/** A batch name, quoted, cut to NAME_MAX characters (before escaping, so an escape is never cut in two). */
function quotedName(name: string): string {
  const flat = name.replace(/\s+/g, ' ').trim();
  const chars = [...flat];
  const shown = chars.length > NAME_MAX ? `${chars.slice(0, NAME_MAX - 1).join('').trimEnd()}…` : flat;
  return `"${inlineText(shown)}"`;
}

/** How a batch is named: its quoted name, or the start of its id when it has none (or a blank one). */
function batchName({ batchId, name }: BatchLabel): string {
  return name?.trim() ? `Batch ${quotedName(name)}` : `Batch ${batchId.slice(0, 8)}`;
}

/** The child workflow's one-line summary: `Batch "Spring creators" · 1,200 profiles`. */
export function batchSummary(label: BatchLabel): string {
  return `${batchName(label)} · ${count(label.totalProfiles, 'profile')}`;
}

/** The child workflow's static details: what identifies the run and how it sends. */
export function batchStaticDetails(
  label: BatchLabel & { run: number; chunkSize: number; concurrency: number },
): string {
  return [
    `**Batch** \`${label.batchId}\``,
    `**Run** ${thousands(label.run)}${label.run > 1 ? ' (started again after a pause or a restart)' : ''}`,
    `**Profiles** ${thousands(label.totalProfiles)}, ${count(label.chunkSize, 'profile')} per request, up to ${count(label.concurrency, 'request')} at once`,
  ].join('\n\n');
}

/** A chunk as the activity summary describes it: its size and its first and last usernames (when paged with them). */
export interface ChunkLabel {
  profiles: number;
  firstUsername?: string;
  lastUsername?: string;
}

/** A chunk activity's summary: `50 profiles: @alice … @zoe`, `1 profile: @alice`. */
export function chunkSummary({ profiles, firstUsername, lastUsername }: ChunkLabel): string {
  const size = count(profiles, 'profile');
  if (!firstUsername) return size;
  const first = `@${inlineText(firstUsername)}`;
  if (profiles === 1 || !lastUsername || lastUsername === firstUsername) return `${size}: ${first}`;
  return `${size}: ${first} … @${inlineText(lastUsername)}`;
}

/** Why a running batch sends nothing, as an operator reads it (the batch's `stalled_reason`). */
export const STALL_WORDS: Record<StallReason, string> = {
  no_usable_proxy: 'no usable proxy (every proxy is disabled or resting)',
  upstream_unreachable: 'the story source is unreachable through every proxy',
  no_valid_session: 'no valid session for the story source',
  queue_held: 'the queue is paused',
};

export type RunState = 'running' | 'queue held' | 'stopping' | 'done' | 'paused' | 'cancelled' | 'stopped';

/** A run's progress as its current details show it: the batch's counts, not only this run's. */
export interface RunView {
  label?: BatchLabel;
  state: RunState;
  /** Profiles of the batch, when known (from the label or a page read). */
  totalProfiles?: number;
  successful: number;
  failed: number;
  storiesFound: number;
  chunksInFlight: number;
  stalledReason?: StallReason | null;
}

/** Share of `part` in `whole`, floored: 100% only once all is done. */
function percent(part: number, whole: number): string {
  if (whole <= 0) return '';
  return ` (${Math.min(100, Math.floor((part * 100) / whole))}%)`;
}

/**
 * The run's current details, short markdown:
 *
 *     **Running** · 600 / 1,200 checked (50%)
 *     580 successful · 20 failed · 31 stories found · 2 chunks in flight
 *     **Stalled:** no usable proxy (every proxy is disabled or resting)
 *
 * The label leads, as the static summary does: a run continued as new has none of its own. Lines are
 * separate paragraphs: markdown would join lines parted by a single newline.
 */
export function currentDetails(view: RunView): string {
  const checked = view.successful + view.failed;
  const total = view.totalProfiles ?? view.label?.totalProfiles;
  const state = view.state[0]!.toUpperCase() + view.state.slice(1);
  const lines = [
    ...(view.label ? [batchSummary(view.label)] : []),
    `**${state}** · ${total === undefined ? thousands(checked) : `${thousands(checked)} / ${thousands(total)}`} checked${total === undefined ? '' : percent(checked, total)}`,
    [
      `${thousands(view.successful)} successful`,
      `${thousands(view.failed)} failed`,
      `${count(view.storiesFound, 'story', 'stories')} found`,
      `${count(view.chunksInFlight, 'chunk')} in flight`,
    ].join(' · '),
  ];
  if (view.stalledReason) lines.push(`**Stalled:** ${STALL_WORDS[view.stalledReason]}`);
  return lines.join('\n\n');
}
