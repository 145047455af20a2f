/** Every batch, newest first, filterable by status and paged; and the form that creates one. */
import { useState } from 'preact/hooks';
import { BATCH_STATUSES } from '../../../enums.js';
import { get, type ApiBatch, type Page } from '../api.js';
import { BatchForm } from '../batch-form.js';
import { BatchControls } from '../batch-controls.js';
import { BatchLink, ListTable, ProgressBar, SelectField, SplitPage, StatusBadge, usePager } from '../components.js';
import { ago, count } from '../format.js';
import { useLoad } from '../live.js';

const PAGE_SIZE = 25;

export function BatchesPage() {
  const [status, setStatus] = useState('');
  const pager = usePager(status);
  const list = useLoad(
    () => get<Page<ApiBatch>>('/batches', { status: status || undefined, limit: PAGE_SIZE, cursor: pager.cursor }),
    [status, pager.cursor],
    5_000,
  );
  return (
    <SplitPage title="Batches" aside={<BatchForm />}>
      <div class="filters">
        <SelectField label="Status" id="batches-status" value={status} onChange={setStatus} none="Any" options={BATCH_STATUSES} />
      </div>
      <ListTable
        list={list}
        pager={pager}
        what="batches"
        empty={`No batch${status ? ` is ${status}` : ' yet: create one with the form'}.`}
        label="Batches"
        columns={['Batch', 'Status', ['Queue', 'num'], ['Progress', 'wide'], ['Stories', 'num'], 'Created', 'Actions']}
        row={(b) => (
          <tr key={b.id} data-batch-id={b.id}>
            <td>
              <BatchLink batch={b} />
            </td>
            <td>
              <StatusBadge status={b.status} />
            </td>
            <td class="num">{b.position ?? '—'}</td>
            <td class="wide">
              <ProgressBar batch={b} />
            </td>
            <td class="num">{count(b.stories_found)}</td>
            <td>{ago(b.created_at)}</td>
            <td>
              <BatchControls batch={b} done={list.reload} />
            </td>
          </tr>
        )}
      />
    </SplitPage>
  );
}
