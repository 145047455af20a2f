/**
 * The form that creates a watch: what to re-check (a whole niche, read again at every tick, or picked
 * profiles) and how often (every so many seconds, or a cron expression in a time zone). The API validates
 * everything; its complaints appear next to the field they are about.
 */
import { useState } from 'preact/hooks';
import { post, type ApiWatch } from './api.js';
import { NicheSelect, ProfilePicker } from './batch-form.js';
import { Choices, Field, SubmitButton, useNotify, useSubmit, WholeNumberField } from './components.js';

type Selection = 'niche' | 'profiles';
type Cadence = 'every' | 'cron';

const SELECTION_FIELDS: Record<Selection, string> = { niche: 'niche_id', profiles: 'profile_ids' };
const CADENCE_FIELDS: Record<Cadence, string> = { every: 'every_s', cron: 'cron' };
const OWN_FIELDS = ['name', 'timezone', 'priority'];

export function WatchForm({ done }: { done: () => void }) {
  const notify = useNotify();
  const [name, setName] = useState('');
  const [selection, setSelection] = useState<Selection>('niche');
  const [nicheId, setNicheId] = useState('');
  const [picked, setPicked] = useState<Map<string, string>>(new Map());
  const [cadence, setCadence] = useState<Cadence>('every');
  const [everyS, setEveryS] = useState('300');
  const [cron, setCron] = useState('');
  const [timezone, setTimezone] = useState('UTC');
  const [priority, setPriority] = useState('0');
  const [paused, setPaused] = useState(false);

  const form = useSubmit(async () => {
    const body: Record<string, unknown> = { name: name.trim(), paused, priority: priority === '' ? undefined : Number(priority) };
    if (selection === 'niche') body.niche_id = nicheId || undefined;
    else body.profile_ids = [...picked.keys()];
    if (cadence === 'every') body.every_s = everyS === '' ? undefined : Number(everyS);
    else Object.assign(body, { cron: cron.trim(), timezone: timezone.trim() || undefined });
    const watch = await post<ApiWatch>('/watches', body);
    notify('ok', `Watch "${watch.name}" created${watch.paused ? ', paused' : ''}.`);
    setName('');
    setPicked(new Map());
    done();
  });

  const known = [...OWN_FIELDS, ...Object.values(SELECTION_FIELDS), ...Object.values(CADENCE_FIELDS)];
  // a complaint about no field of the form shows under the name, so none is lost
  const nameError = form.error('name') ?? form.other(known);
  const selectionError = form.error(SELECTION_FIELDS[selection]);
  return (
    <form class="card form" onSubmit={form.submit} aria-label="New watch" noValidate>
      <h2>New watch</h2>
      <Field label="Name" id="watch-name" error={nameError}>
        <input id="watch-name" name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} aria-invalid={nameError ? true : undefined} />
      </Field>
      <Choices legend="Profiles to re-check" name="selection" value={selection} onChange={setSelection} options={{ niche: 'A whole niche', profiles: 'Pick profiles' }} />
      {selection === 'niche' ? (
        <NicheSelect id="watch-niche" value={nicheId} onChange={setNicheId} error={selectionError} />
      ) : (
        <ProfilePicker id="watch-profile-search" picked={picked} onChange={setPicked} error={selectionError} />
      )}
      <Choices legend="How often" name="cadence" value={cadence} onChange={setCadence} options={{ every: 'Every so many seconds', cron: 'A cron expression' }} />
      {cadence === 'every' ? (
        <WholeNumberField
          label="Every (seconds)"
          id="watch-every"
          name="every_s"
          min={10}
          value={everyS}
          onChange={setEveryS}
          error={form.error('every_s')}
          hint="10 s to 31 days; a tick is skipped while the previous batch is unfinished"
        />
      ) : (
        <div class="row">
          <Field label="Cron" id="watch-cron" error={form.error('cron')} hint="minute hour day month weekday, e.g. */15 * * * *">
            <input id="watch-cron" name="cron" value={cron} onInput={(e) => setCron(e.currentTarget.value)} aria-invalid={form.error('cron') ? true : undefined} />
          </Field>
          <Field label="Time zone" id="watch-timezone" error={form.error('timezone')} hint="IANA name, e.g. Europe/Paris">
            <input id="watch-timezone" name="timezone" value={timezone} onInput={(e) => setTimezone(e.currentTarget.value)} />
          </Field>
        </div>
      )}
      <WholeNumberField label="Priority" id="watch-priority" name="priority" value={priority} onChange={setPriority} error={form.error('priority')} hint="Its batches' priority in the queue; higher runs first" />
      <label class="choice">
        <input type="checkbox" name="paused" checked={paused} onChange={(e) => setPaused(e.currentTarget.checked)} />
        Create it paused (no tick until resumed)
      </label>
      <SubmitButton busy={form.busy} label="Create watch" busyLabel="Creating…" />
    </form>
  );
}
