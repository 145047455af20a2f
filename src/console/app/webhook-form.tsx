/**
 * The form that registers a webhook endpoint: its URL, the events it gets (all four by default), an optional
 * niche (story events of that niche's profiles, batch events of its watches) and a description. The answer
 * carries the signing secret, handed to `onCreated` to be shown once.
 */
import { useState } from 'preact/hooks';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../../enums.js';
import { post, type ApiWebhookWithSecret } from './api.js';
import { NicheSelect } from './batch-form.js';
import { Field, SubmitButton, useNotify, useSubmit } from './components.js';

const OWN_FIELDS = ['url', 'events', 'niche_id', 'description'];

export function WebhookForm({ onCreated }: { onCreated: (webhook: ApiWebhookWithSecret) => void }) {
  const notify = useNotify();
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<Set<WebhookEventType>>(new Set(WEBHOOK_EVENT_TYPES));
  const [nicheId, setNicheId] = useState('');
  const [description, setDescription] = useState('');
  const form = useSubmit(async () => {
    const webhook = await post<ApiWebhookWithSecret>('/webhooks', {
      url: url.trim(),
      events: WEBHOOK_EVENT_TYPES.filter((e) => events.has(e)),
      niche_id: nicheId || undefined,
      description: description.trim() || undefined,
    });
    notify('ok', `Webhook to ${webhook.url} created.`);
    setUrl('');
    setDescription('');
    onCreated(webhook);
  });
  const toggle = (event: WebhookEventType) => {
    const next = new Set(events);
    if (next.has(event)) next.delete(event);
    else next.add(event);
    setEvents(next);
  };
  const urlError = form.error('url') ?? form.other(OWN_FIELDS);
  return (
    <form class="card form" onSubmit={form.submit} aria-label="New webhook" noValidate>
      <h2>New webhook</h2>
      <Field label="URL" id="webhook-url" error={urlError} hint="https, or http to a host WEBHOOK_ALLOW_HOSTS allows">
        <input id="webhook-url" name="url" type="url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} aria-invalid={urlError ? true : undefined} />
      </Field>
      <fieldset class="choices">
        <legend>Events</legend>
        {WEBHOOK_EVENT_TYPES.map((event) => (
          <label key={event} class="choice">
            <input type="checkbox" name="events" value={event} checked={events.has(event)} onChange={() => toggle(event)} />
            {event}
          </label>
        ))}
      </fieldset>
      {form.error('events') && <p class="field-error">{form.error('events')}</p>}
      <NicheSelect id="webhook-niche" none="Any niche" value={nicheId} onChange={setNicheId} error={form.error('niche_id')} />
      <Field label="Description (optional)" id="webhook-description" error={form.error('description')}>
        <input id="webhook-description" name="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </Field>
      <SubmitButton busy={form.busy} label="Create webhook" busyLabel="Creating…" />
    </form>
  );
}
