/**
 * Watches: selections re-checked on a schedule (each one a Temporal Schedule that creates one batch per tick).
 * The list shows each one's cadence, whether it is paused, its last tick (and how many were skipped because
 * the previous batch was unfinished), its next runs and its last batch; pause, resume, run now and delete; and
 * the form that creates one.
 */
import { del, get, post, type ApiNiche, type ApiWatch, type Page } from '../api.js';
import { ActionButton, BatchLink, ListTable, SplitPage, StatusBadge, usePager } from '../components.js';
import { ago, count, dateTime, duration } from '../format.js';
import { useLoad } from '../live.js';
import { WatchForm } from '../watch-form.js';

const POLL_MS = 5_000;
/** Next runs shown per watch (the API gives up to 5). */
const NEXT_RUNS_SHOWN = 3;

/** Why a tick created no batch, as the operator reads it. */
const SKIPPED_BECAUSE: Record<string, string> = {
  previous_batch_unfinished: 'the previous batch was unfinished',
  empty_selection: 'nothing to check',
  selection_too_large: 'more profiles than one batch holds',
  watch_paused: 'the watch was paused',
  watch_missing: 'the watch was deleted',
};

function cadenceText(watch: Pick<ApiWatch, 'every_s' | 'cron' | 'timezone'>): string {
  if (watch.every_s !== null) return `every ${duration(watch.every_s)}`;
  return `cron ${watch.cron ?? '?'} (${watch.timezone})`;
}

export function WatchesPage() {
  const pager = usePager('');
  const list = useLoad(() => get<Page<ApiWatch>>('/watches', { limit: 50, cursor: pager.cursor }), [pager.cursor], POLL_MS);
  const niches = useLoad(() => get<Page<ApiNiche>>('/niches', { limit: 1000 }), []);
  const nicheNames = new Map(niches.data?.items.map((n) => [n.id, n.name]));
  return (
    <SplitPage title="Watches" aside={<WatchForm done={list.reload} />}>
      <ListTable
        list={list}
        pager={pager}
        what="watches"
        empty="No watch yet: create one with the form to re-check a niche or some profiles on a schedule."
        label="Watches"
        columns={['Watch', 'Profiles', 'Cadence', 'State', 'Last tick', 'Next runs', 'Last batch', 'Actions']}
        row={(w) => <WatchRow key={w.id} watch={w} niche={w.niche_id ? (nicheNames.get(w.niche_id) ?? '…') : null} done={list.reload} />}
      />
    </SplitPage>
  );
}

function WatchRow({ watch: w, niche, done }: { watch: ApiWatch; niche: string | null; done: () => void }) {
  const path = `/watches/${encodeURIComponent(w.id)}`;
  return (
    <tr data-watch-id={w.id} data-watch-name={w.name}>
      <td title={`Temporal Schedule ${w.schedule_id}`}>{w.name}</td>
      <td>{niche !== null ? `niche ${niche}` : `${count(w.profile_count)} profiles`}</td>
      <td class="nowrap">{cadenceText(w)}</td>
      <td>
        <StatusBadge status={w.paused ? 'paused' : 'watching'} />
      </td>
      <td>
        <LastTick watch={w} />
      </td>
      <td class="nowrap">
        {w.paused || w.next_runs.length === 0 ? (
          '—'
        ) : (
          <ul class="list-plain" aria-label={`Next runs of ${w.name}`}>
            {w.next_runs.slice(0, NEXT_RUNS_SHOWN).map((at) => (
              <li key={at}>{dateTime(at)}</li>
            ))}
          </ul>
        )}
      </td>
      <td>
        {w.last_batch ? (
          <>
            <BatchLink batch={w.last_batch} /> <StatusBadge status={w.last_batch.status} />
          </>
        ) : (
          '—'
        )}
      </td>
      <td>
        <div class="actions">
          {w.paused ? (
            <ActionButton label="Resume" variant="primary" success={`Watch "${w.name}" resumed.`} run={() => post(`${path}/resume`)} done={done} />
          ) : (
            <ActionButton label="Pause" success={`Watch "${w.name}" paused.`} run={() => post(`${path}/pause`)} done={done} />
          )}
          <ActionButton
            label="Run now"
            title="A tick now: creates a batch unless the previous one is unfinished"
            success={`Watch "${w.name}": a tick was asked for.`}
            run={() => post(`${path}/trigger`)}
            done={done}
          />
          <ActionButton
            label="Delete"
            variant="danger"
            confirm={`Delete watch "${w.name}"? Its Schedule goes; its batches stay.`}
            success={`Watch "${w.name}" deleted.`}
            run={() => del(path)}
            done={done}
          />
        </div>
      </td>
    </tr>
  );
}

function LastTick({ watch: w }: { watch: ApiWatch }) {
  if (!w.last_tick) return <span class="muted">no tick yet</span>;
  const { result, skip_reason: reason, at } = w.last_tick;
  return (
    <>
      <StatusBadge status={result} /> {ago(at)}
      {result === 'skipped' && reason && <div class="muted">{SKIPPED_BECAUSE[reason] ?? reason.replace(/_/g, ' ')}</div>}
      {w.ticks_skipped > 0 && <div class="muted">{count(w.ticks_skipped)} skipped in all</div>}
    </>
  );
}
