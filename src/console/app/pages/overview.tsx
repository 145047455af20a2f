/**
 * The queue at a glance: the running batch with its live progress (and why it is stalled, if it is), the
 * queued batches in the order they will run, the paused ones, and the queue's own hold.
 */
import { get, post, type ApiBatch, type ApiQueue, type Page } from '../api.js';
import { BatchControls } from '../batch-controls.js';
import { ActionButton, BatchLink, DataTable, Empty, ErrorNote, Loading, ProgressBar, Stat, StallNote, StatusBadge } from '../components.js';
import { ago, checkRate, count, duration } from '../format.js';
import { latestBatch, useBatchStream, useLoad } from '../live.js';

const QUEUE_POLL_MS = 2_000;

export function OverviewPage() {
  const queue = useLoad(() => get<ApiQueue>('/queue'), [], QUEUE_POLL_MS);
  const paused = useLoad(() => get<Page<ApiBatch>>('/batches', { status: 'paused', limit: 20 }), [], QUEUE_POLL_MS * 2);
  const reload = () => {
    queue.reload();
    paused.reload();
  };
  const q = queue.data;

  return (
    <section>
      <header class="page-head">
        <h1>Queue</h1>
        {q && <QueueHold paused={q.paused} reload={reload} />}
      </header>
      <ErrorNote error={queue.error} />
      {!q && !queue.error && <Loading what="the queue" />}
      {q?.paused && (
        <p class="note note-warn">
          The queue is held: the running batch keeps its place and no request is sent until you resume the queue.
        </p>
      )}
      {q && <RunningBatch batch={q.running} polledAt={queue.at} reload={reload} />}
      {q && <QueuedBatches batches={q.queued} reload={reload} />}
      {paused.data && paused.data.items.length > 0 && <PausedBatches batches={paused.data.items} reload={reload} />}
    </section>
  );
}

/** Whether the queue is held, and the button that holds it or lets it go on. */
function QueueHold({ paused, reload }: { paused: boolean; reload: () => void }) {
  return (
    <div class="actions">
      {paused ? <span class="badge badge-held">queue held</span> : <span class="badge badge-flowing">queue running</span>}
      {paused ? (
        <ActionButton label="Resume queue" variant="primary" success="The queue resumes." run={() => post('/queue/resume')} done={reload} />
      ) : (
        <ActionButton label="Pause queue" success="The queue is held: nothing is sent until it resumes." run={() => post('/queue/pause')} done={reload} />
      )}
    </div>
  );
}

/** The queued batches in the order they will run. */
function QueuedBatches({ batches, reload }: { batches: ApiBatch[]; reload: () => void }) {
  return (
    <>
      <h2>Queued ({batches.length})</h2>
      {batches.length === 0 ? (
        <Empty>No batch is waiting.</Empty>
      ) : (
        <DataTable
          label="Queued batches"
          columns={[['#', 'num'], 'Batch', ['Priority', 'num'], ['Profiles', 'num'], 'Created', 'Actions']}
          items={batches}
          row={(b) => (
            <tr key={b.id} data-batch-id={b.id}>
              <td class="num">{b.position}</td>
              <td>
                <BatchLink batch={b} />
              </td>
              <td class="num">{b.priority}</td>
              <td class="num">{count(b.total_profiles)}</td>
              <td>{ago(b.created_at)}</td>
              <td>
                <BatchControls batch={b} done={reload} />
              </td>
            </tr>
          )}
        />
      )}
    </>
  );
}

function PausedBatches({ batches, reload }: { batches: ApiBatch[]; reload: () => void }) {
  return (
    <>
      <h2>Paused</h2>
      <DataTable
        label="Paused batches"
        columns={['Batch', ['Done', 'num'], ['Priority', 'num'], 'Actions']}
        items={batches}
        row={(b) => (
          <tr key={b.id} data-batch-id={b.id}>
            <td>
              <BatchLink batch={b} />
            </td>
            <td class="num">
              {count(b.completed_profiles)} / {count(b.total_profiles)}
            </td>
            <td class="num">{b.priority}</td>
            <td>
              <BatchControls batch={b} done={reload} />
            </td>
          </tr>
        )}
      />
    </>
  );
}

/** The running batch, followed live over its event stream (the queue poll only says which batch it is). */
function RunningBatch({ batch, polledAt, reload }: { batch: ApiBatch | null; polledAt: number; reload: () => void }) {
  const stream = useBatchStream(batch?.id ?? null);
  if (!batch) {
    return (
      <div class="card running" aria-label="Running batch">
        <h2>Running</h2>
        <Empty>Nothing is running. A queued batch starts as soon as it reaches the head of the queue.</Empty>
      </div>
    );
  }
  // the stream of an earlier running batch may not have closed yet: only this batch's readings count
  const live = latestBatch(stream.batch?.id === batch.id ? stream : { ...stream, batch: null }, { data: batch, at: polledAt }) ?? batch;
  const remaining = live.total_profiles - live.completed_profiles;
  const rate = checkRate(stream.rate, live);
  return (
    <div class="card running" aria-label="Running batch" data-batch-id={live.id}>
      <div class="card-head">
        <h2>
          Running: <BatchLink batch={live} />
        </h2>
        <StatusBadge status={live.status} />
      </div>
      <ProgressBar batch={live} />
      <dl class="stats">
        <Stat label="Successful" value={count(live.successful_checks)} />
        <Stat label="Failed" value={count(live.failed_checks)} />
        <Stat label="Stories found" value={count(live.stories_found)} />
        <Stat label="Rate" value={rate === null ? '—' : `${rate.toFixed(1)} /s`} />
        <Stat label="Time left" value={rate && rate > 0 ? duration(remaining / rate) : '—'} />
      </dl>
      <StallNote batch={live} />
      <ErrorNote error={stream.error} />
      <BatchControls batch={live} done={reload} />
    </div>
  );
}
