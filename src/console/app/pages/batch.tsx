/**
 * One batch: its counters live over the event stream, its controls, the per-profile results, and its logs
 * (paged history, or a live tail of the same stream), with a link to its workflow in the Temporal Web UI.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { BATCH_PROFILE_STATUSES, EVENT_TYPES, LOG_LEVELS } from '../../../enums.js';
import { get, type ApiBatch, type ApiBatchProfile, type ApiLog, type Page } from '../api.js';
import { BatchControls } from '../batch-controls.js';
import { DataTable, Empty, ErrorNote, Link, ListTable, Loading, Pager, ProgressBar, SelectField, Stat, StallNote, StatusBadge, usePager } from '../components.js';
import { ExportLinks } from '../export-links.js';
import { ago, checkRate, count, dateTime, duration, percent } from '../format.js';
import { latestBatch, useBatchStream, useLoad } from '../live.js';
import { useSession, workflowLink } from '../session.js';

const MOVING = new Set(['queued', 'running']);

export function BatchPage({ id }: { id: string }) {
  const [epoch, setEpoch] = useState(0);
  const [tail, setTail] = useState<ApiLog[]>([]);
  const onLog = useCallback((log: ApiLog) => setTail((list) => [...list.slice(-299), log]), []);
  const polled = useLoad(() => get<ApiBatch>(`/batches/${encodeURIComponent(id)}`), [id, epoch], 5_000);
  // the stream opens once the batch is known to exist
  const stream = useBatchStream(polled.data ? id : null, onLog, epoch);
  const batch = latestBatch(stream, polled);

  // a stream ends when the batch settles (paused, done, ...): open it again once the batch moves again
  const lastStatus = useRef<string | null>(null);
  useEffect(() => {
    const status = polled.data?.status ?? null;
    if (status && lastStatus.current && !MOVING.has(lastStatus.current) && MOVING.has(status)) setEpoch((e) => e + 1);
    lastStatus.current = status;
  }, [polled.data?.status]);

  if (!batch) {
    return (
      <section>
        <h1>Batch</h1>
        <ErrorNote error={polled.error} />
        {!polled.error && <Loading what="the batch" />}
      </section>
    );
  }
  const reload = () => {
    polled.reload();
    setEpoch((e) => e + 1);
  };
  return (
    <section>
      <header class="page-head">
        <h1>{batch.name}</h1>
        <StatusBadge status={batch.status} />
        {batch.position !== null && <span class="muted">{batch.position === 0 ? 'running now' : `queue position ${batch.position}`}</span>}
      </header>
      <div class="card">
        <BatchFigures batch={batch} rate={checkRate(stream.rate, batch)} />
        <StallNote batch={batch} />
        {batch.error && (
          <p class="note note-error" role="alert">
            {batch.error}
          </p>
        )}
        <ErrorNote error={polled.error ?? stream.error} />
        <BatchTimes batch={batch} />
        <BatchControls batch={batch} done={reload} />
      </div>
      <Results batchId={id} live={batch.status === 'running'} />
      <Logs batchId={id} tail={tail} moving={MOVING.has(batch.status)} />
    </section>
  );
}

function BatchFigures({ batch, rate }: { batch: ApiBatch; rate: number | null }) {
  return (
    <>
      <ProgressBar batch={batch} />
      <dl class="stats">
        <Stat label="Profiles" value={count(batch.total_profiles)} />
        <Stat label="Completed" value={count(batch.completed_profiles)} />
        <Stat label="Successful" value={count(batch.successful_checks)} />
        <Stat label="Failed" value={count(batch.failed_checks)} />
        <Stat label="Stories found" value={count(batch.stories_found)} />
        <Stat label="Completion" value={percent(batch.completion_rate)} />
        <Stat label="Rate" value={rate === null ? '—' : `${rate.toFixed(1)} /s`} />
        <Stat label="Priority" value={String(batch.priority)} />
      </dl>
    </>
  );
}

/** When it was created, started and ended, how it reuses results, and its workflow in the Temporal Web UI. */
function BatchTimes({ batch }: { batch: ApiBatch }) {
  const session = useSession();
  const link = workflowLink(session, batch.workflow_id);
  // every item is always there (a dash until it is known), so nothing below moves when one appears
  return (
    <div class="batch-meta muted">
      <span>Created {dateTime(batch.created_at)}</span>
      <span>Started {dateTime(batch.started_at)}</span>
      <span>Ended {dateTime(batch.completed_at)}</span>
      <span>{batch.max_age_s > 0 ? `Reuses results younger than ${duration(batch.max_age_s)}` : 'Always asks the source'}</span>
      {link ? (
        <a href={link} target="_blank" rel="noopener noreferrer">
          Workflow in the Temporal Web UI
        </a>
      ) : (
        <span>{session?.temporal_ui_url ? 'No workflow yet' : 'Web UI address not set (TEMPORAL_UI_URL)'}</span>
      )}
    </div>
  );
}

function Results({ batchId, live }: { batchId: string; live: boolean }) {
  const [status, setStatus] = useState('');
  const [hasStory, setHasStory] = useState('');
  const pager = usePager(`${status}|${hasStory}`);
  const path = `/batches/${encodeURIComponent(batchId)}/profiles`;
  const filters = { status: status || undefined, has_story: hasStory || undefined };
  const rows = useLoad(
    () => get<Page<ApiBatchProfile>>(path, { ...filters, limit: 50, cursor: pager.cursor }),
    [batchId, status, hasStory, pager.cursor],
    live ? 3_000 : undefined,
  );
  // one more reload when the batch stops running, so the table ends on the final results
  const wasLive = useRef(live);
  useEffect(() => {
    if (wasLive.current && !live) rows.reload();
    wasLive.current = live;
  }, [live, rows.reload]);
  return (
    <section class="card" aria-label="Results">
      <h2>Results</h2>
      <div class="filters">
        <SelectField label="Status" id="results-status" value={status} onChange={setStatus} none="Any" options={BATCH_PROFILE_STATUSES} />
        <SelectField label="Story" id="results-story" value={hasStory} onChange={setHasStory} none="Any" options={[['true', 'Has a story'], ['false', 'No story']]} />
        <ExportLinks path={path} query={filters} what="results" />
      </div>
      <ListTable
        list={rows}
        pager={pager}
        what="results"
        empty="No profile matches."
        label="Per-profile results"
        columns={['Username', 'Status', 'Story', ['Stories', 'num'], ['Attempts', 'num'], ['Took', 'num'], 'Checked', 'Source', 'Error']}
        row={(r) => (
          <tr key={r.profile_id}>
            <td>
              <Link to={`/profiles/${r.profile_id}`}>{r.username}</Link>
            </td>
            <td>
              <StatusBadge status={r.status} />
            </td>
            <td>{r.has_story === null ? '—' : r.has_story ? 'yes' : 'no'}</td>
            <td class="num">{r.story_count ?? '—'}</td>
            <td class="num">{r.attempts}</td>
            <td class="num">{r.duration_ms === null ? '—' : `${r.duration_ms} ms`}</td>
            <td>{ago(r.checked_at)}</td>
            <td>{r.source ?? '—'}</td>
            <td class="error-text">{r.error ?? ''}</td>
          </tr>
        )}
      />
    </section>
  );
}

function Logs({ batchId, tail, moving }: { batchId: string; tail: ApiLog[]; moving: boolean }) {
  const [level, setLevel] = useState('');
  const [eventType, setEventType] = useState('');
  const [mode, setMode] = useState<'tail' | 'history'>(moving ? 'tail' : 'history');
  const pager = usePager(`${level}|${eventType}`);
  const history = useLoad(
    () =>
      mode === 'history'
        ? get<Page<ApiLog>>(`/batches/${encodeURIComponent(batchId)}/logs`, {
            level: level || undefined,
            event_type: eventType || undefined,
            limit: 100,
            cursor: pager.cursor,
          })
        : Promise.resolve(undefined),
    [batchId, level, eventType, pager.cursor, mode],
  );
  const shown = mode === 'tail' ? tail.filter((l) => (!level || l.level === level) && (!eventType || l.event_type === eventType)).slice(-100) : (history.data?.items ?? []);
  return (
    <section class="card" aria-label="Logs">
      <h2>Logs</h2>
      <div class="filters">
        <fieldset class="choices">
          <legend>Show</legend>
          <label class="choice">
            <input type="radio" name="log-mode" checked={mode === 'tail'} onChange={() => setMode('tail')} />
            Live tail
          </label>
          <label class="choice">
            <input type="radio" name="log-mode" checked={mode === 'history'} onChange={() => setMode('history')} />
            History
          </label>
        </fieldset>
        <SelectField label="Level" id="logs-level" value={level} onChange={setLevel} none="Any" options={LOG_LEVELS} />
        <SelectField label="Event" id="logs-event" value={eventType} onChange={setEventType} none="Any" options={EVENT_TYPES} />
      </div>
      {mode === 'history' && <ErrorNote error={history.error} />}
      {shown.length === 0 ? (
        <Empty>{mode === 'tail' ? (moving ? 'Waiting for new log events…' : 'This batch is not moving: see the history.') : 'No log matches.'}</Empty>
      ) : (
        <DataTable
          label="Log events"
          columns={['Time', 'Level', 'Event', ['Message', 'wide'], ['Took', 'num']]}
          items={shown}
          row={(l) => (
            <tr key={l.id} class={`log-${l.level.toLowerCase()}`}>
              <td class="nowrap">{dateTime(l.created_at)}</td>
              <td>
                <span class={`badge badge-level-${l.level.toLowerCase()}`}>{l.level}</span>
              </td>
              <td class="nowrap">{l.event_type}</td>
              <td class="wide">{l.message}</td>
              <td class="num">{l.duration_ms === null ? '' : `${l.duration_ms} ms`}</td>
            </tr>
          )}
        />
      )}
      {mode === 'history' && <Pager pager={pager} nextCursor={history.data?.next_cursor} />}
    </section>
  );
}
