/**
 * One webhook endpoint: its state and actions, and its deliveries, newest first, filterable by status: each
 * one's event, status, attempts and last answer, its attempts on demand, and a button that sends it again
 * (a redelivery: a new delivery with the same webhook-id, so a receiver that deduplicates keeps one).
 */
import { useState } from 'preact/hooks';
import { WEBHOOK_DELIVERY_STATUSES } from '../../../enums.js';
import { get, post, type ApiDelivery, type ApiDeliveryDetail, type ApiWebhook, type Page } from '../api.js';
import { ActionButton, DataTable, ErrorNote, Link, ListTable, Loading, SelectField, StatusBadge, usePager } from '../components.js';
import { ago, dateTime } from '../format.js';
import { useLoad } from '../live.js';
import { navigate } from '../router.js';
import { SecretReveal, type RevealedSecret } from '../secret-reveal.js';
import { WebhookActions } from '../webhook-actions.js';
import { WebhookState } from './webhooks.js';

const POLL_MS = 3_000;
const PAGE_SIZE = 25;

export function WebhookPage({ id }: { id: string }) {
  const path = `/webhooks/${encodeURIComponent(id)}`;
  const webhook = useLoad(() => get<ApiWebhook>(path), [id], POLL_MS);
  const [status, setStatus] = useState('');
  const pager = usePager(status);
  const deliveries = useLoad(() => get<Page<ApiDelivery>>(`${path}/deliveries`, { status: status || undefined, limit: PAGE_SIZE, cursor: pager.cursor }), [id, status, pager.cursor], POLL_MS);
  const [revealed, setRevealed] = useState<RevealedSecret | null>(null);
  const w = webhook.data;
  if (!w) {
    return (
      <section>
        <h1>Webhook</h1>
        <ErrorNote error={webhook.error} />
        {!webhook.error && <Loading what="the webhook" />}
      </section>
    );
  }
  const reload = () => {
    webhook.reload();
    deliveries.reload();
  };
  return (
    <section>
      <header class="page-head">
        <h1>Webhook to {w.url}</h1>
        <WebhookState webhook={w} />
      </header>
      {revealed && <SecretReveal revealed={revealed} onDone={() => setRevealed(null)} />}
      <div class="card">
        {w.description && <p>{w.description}</p>}
        <p>Events: {w.events.join(', ')}.</p>
        <p class="muted">
          Created {dateTime(w.created_at)}; secret {w.secret_rotated_at ? `rotated ${ago(w.secret_rotated_at)}` : 'never rotated'}. <Link to="/webhooks">All webhooks</Link>
        </p>
        <WebhookActions webhook={w} done={reload} onSecret={setRevealed} onDeleted={() => navigate('/webhooks')} />
      </div>
      <h2>Deliveries</h2>
      <div class="filters">
        <SelectField label="Status" id="deliveries-status" value={status} onChange={setStatus} none="Any" options={WEBHOOK_DELIVERY_STATUSES} />
      </div>
      <ListTable
        list={deliveries}
        pager={pager}
        what="deliveries"
        empty={`No delivery${status ? ` is ${status}` : ' yet: press Test to send a ping'}.`}
        label="Deliveries"
        columns={['Created', 'Event', 'Status', ['Attempts', 'num'], 'Last answer', 'Finished', 'Actions']}
        row={(d) => <DeliveryRow key={d.id} webhookPath={path} delivery={d} done={deliveries.reload} />}
      />
    </section>
  );
}

function DeliveryRow({ webhookPath, delivery: d, done }: { webhookPath: string; delivery: ApiDelivery; done: () => void }) {
  const [open, setOpen] = useState(false);
  const answer = d.last_status_code !== null ? `HTTP ${d.last_status_code}` : null;
  return (
    <>
      <tr data-delivery-id={d.id} data-event-type={d.event_type}>
        <td class="nowrap">{dateTime(d.created_at)}</td>
        <td>
          {d.event_type}
          {d.redelivery_of && <div class="muted">redelivery</div>}
        </td>
        <td>
          <StatusBadge status={d.status} />
        </td>
        <td class="num">{d.attempts}</td>
        <td>
          {answer ?? '—'}
          {d.last_error && <div class="error-text">{d.last_error}</div>}
        </td>
        <td class="nowrap">{dateTime(d.finished_at)}</td>
        <td>
          <div class="actions">
            <button type="button" class="btn btn-plain" aria-expanded={open} onClick={() => setOpen(!open)}>
              {open ? 'Hide attempts' : 'Attempts'}
            </button>
            <ActionButton
              label="Redeliver"
              title="Send it again, with the same webhook-id"
              success={`${d.event_type} sent again.`}
              run={() => post(`${webhookPath}/deliveries/${encodeURIComponent(d.id)}/redeliver`)}
              done={done}
            />
          </div>
        </td>
      </tr>
      {open && (
        <tr>
          <td colSpan={7}>
            <Attempts path={`${webhookPath}/deliveries/${encodeURIComponent(d.id)}`} live={d.status === 'pending'} />
          </td>
        </tr>
      )}
    </>
  );
}

function Attempts({ path, live }: { path: string; live: boolean }) {
  const detail = useLoad(() => get<ApiDeliveryDetail>(path), [path], live ? POLL_MS : undefined);
  if (!detail.data) return detail.error ? <ErrorNote error={detail.error} /> : <Loading what="the attempts" />;
  const { attempts, message_id: messageId } = detail.data;
  return (
    <>
      <p class="muted">
        webhook-id <span class="mono">{messageId}</span>
      </p>
      {attempts.length === 0 ? (
        <p class="muted">No attempt yet.</p>
      ) : (
        <DataTable
          label="Attempts"
          columns={[['#', 'num'], 'Started', ['Took', 'num'], 'Answer', 'Error', 'Response']}
          items={attempts}
          row={(a) => (
            <tr key={a.attempt}>
              <td class="num">{a.attempt}</td>
              <td class="nowrap">{dateTime(a.started_at)}</td>
              <td class="num">{a.duration_ms === null ? '—' : `${a.duration_ms} ms`}</td>
              <td>{a.status_code ?? '—'}</td>
              <td class="error-text">{a.error ?? ''}</td>
              <td class="mono">{a.response_snippet ?? ''}</td>
            </tr>
          )}
        />
      )}
    </>
  );
}
