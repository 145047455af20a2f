/**
 * Webhook endpoints: each one's URL, events, niche and state (enabled, failing since when, disabled and why),
 * with test, enable or disable, rotate secret and delete; a link to its deliveries; and the form that registers
 * one. A new secret (of a new endpoint or a rotation) is shown once, above everything, with a copy button.
 */
import { useState } from 'preact/hooks';
import { get, type ApiNiche, type ApiWebhook, type Page } from '../api.js';
import { Link, ListTable, StatusBadge, usePager } from '../components.js';
import { ago } from '../format.js';
import { useLoad } from '../live.js';
import { SecretReveal, type RevealedSecret } from '../secret-reveal.js';
import { DISABLED_BECAUSE, WebhookActions } from '../webhook-actions.js';
import { WebhookForm } from '../webhook-form.js';

const POLL_MS = 5_000;

export function WebhooksPage() {
  const pager = usePager('');
  const list = useLoad(() => get<Page<ApiWebhook>>('/webhooks', { limit: 50, cursor: pager.cursor }), [pager.cursor], POLL_MS);
  const niches = useLoad(() => get<Page<ApiNiche>>('/niches', { limit: 1000 }), []);
  const nicheNames = new Map(niches.data?.items.map((n) => [n.id, n.name]));
  const [revealed, setRevealed] = useState<RevealedSecret | null>(null);
  const created = (w: { url: string; secret: string }) => {
    setRevealed({ url: w.url, secret: w.secret, reason: 'created' });
    list.reload();
  };
  return (
    <section>
      <header class="page-head">
        <h1>Webhooks</h1>
      </header>
      {revealed && <SecretReveal revealed={revealed} onDone={() => setRevealed(null)} />}
      <div class="split">
        <div>
          <ListTable
            list={list}
            pager={pager}
            what="webhooks"
            empty="No webhook yet: register an endpoint with the form to be told when stories appear and batches end."
            label="Webhooks"
            columns={['Endpoint', 'Events', 'Niche', 'State', 'Actions']}
            row={(w) => (
              <tr key={w.id} data-webhook-id={w.id} data-webhook-url={w.url}>
                <td>
                  <Link to={`/webhooks/${w.id}`}>{w.url}</Link>
                  {w.description && <div class="muted">{w.description}</div>}
                </td>
                <td>{w.events.join(', ')}</td>
                <td>{w.niche_id ? (nicheNames.get(w.niche_id) ?? '…') : 'any'}</td>
                <td>
                  <WebhookState webhook={w} />
                </td>
                <td>
                  <WebhookActions webhook={w} done={list.reload} onSecret={setRevealed} />
                  <Link to={`/webhooks/${w.id}`}>Deliveries</Link>
                </td>
              </tr>
            )}
          />
        </div>
        <WebhookForm onCreated={created} />
      </div>
    </section>
  );
}

export function WebhookState({ webhook: w }: { webhook: ApiWebhook }) {
  if (!w.enabled) {
    return (
      <>
        <StatusBadge status="disabled" />
        {w.disabled_reason && <div class="muted">{DISABLED_BECAUSE[w.disabled_reason] ?? w.disabled_reason}</div>}
      </>
    );
  }
  if (w.failing_since) {
    return (
      <>
        <StatusBadge status="failing" />
        <div class="muted">since {ago(w.failing_since)}</div>
      </>
    );
  }
  return <StatusBadge status="enabled" />;
}
