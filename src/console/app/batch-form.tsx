/**
 * The form that creates a batch from pasted usernames, a niche, or profiles picked by search. The API
 * validates everything; its complaints appear next to the field they are about.
 */
import { useState } from 'preact/hooks';
import { describeError, get, post, type ApiBatch, type ApiNiche, type ApiProfile, type Page } from './api.js';
import { Choices, Field, SelectField, SubmitButton, useNotify, useSubmit, WholeNumberField } from './components.js';
import { splitUsernames } from './format.js';
import { useLoad } from './live.js';
import { navigate } from './router.js';

type Source = 'usernames' | 'niche' | 'profiles';

const SOURCE_FIELDS: Record<Source, string> = { usernames: 'usernames', niche: 'niche_id', profiles: 'profile_ids' };
const OWN_FIELDS = ['name', 'priority', 'max_age_s'];

export function BatchForm() {
  const notify = useNotify();
  const [source, setSource] = useState<Source>('usernames');
  const [name, setName] = useState('');
  const [priority, setPriority] = useState('0');
  const [hold, setHold] = useState(false);
  const [maxAge, setMaxAge] = useState('');
  const [usernames, setUsernames] = useState('');
  const [nicheId, setNicheId] = useState('');
  const [picked, setPicked] = useState<Map<string, string>>(new Map());
  const form = useSubmit(async () => {
    const body: Record<string, unknown> = { priority: priority === '' ? undefined : Number(priority), hold };
    if (name.trim()) body.name = name.trim();
    if (maxAge !== '') body.max_age_s = Number(maxAge);
    if (source === 'usernames') body.usernames = splitUsernames(usernames);
    if (source === 'niche') body.niche_id = nicheId || undefined;
    if (source === 'profiles') body.profile_ids = [...picked.keys()];
    const batch = await post<ApiBatch>('/batches', body);
    notify('ok', `Batch "${batch.name}" created with ${batch.total_profiles} profiles${batch.status === 'queued' ? `, queued at position ${batch.position}` : ', paused'}.`);
    navigate(`/batches/${batch.id}`);
  });

  // a complaint about the profiles, or about no field of the form, shows under the chosen source
  const sourceError = form.error(SOURCE_FIELDS[source]) ?? form.other([...OWN_FIELDS, ...Object.values(SOURCE_FIELDS)]);
  return (
    <form class="card form" onSubmit={form.submit} aria-label="New batch" noValidate>
      <h2>New batch</h2>
      <Choices legend="Profiles to check" name="source" value={source} onChange={setSource} options={SOURCE_LABELS} />
      {source === 'usernames' && (
        <Field label="Usernames" id="batch-usernames" error={sourceError} hint="One per line, or separated by commas or spaces; a leading @ is fine. New ones are added as profiles.">
          <textarea
            id="batch-usernames"
            name="usernames"
            rows={6}
            value={usernames}
            onInput={(e) => setUsernames(e.currentTarget.value)}
            aria-invalid={sourceError ? true : undefined}
            aria-describedby="batch-usernames-hint batch-usernames-error"
          />
        </Field>
      )}
      {source === 'niche' && <NicheSelect value={nicheId} onChange={setNicheId} error={sourceError} />}
      {source === 'profiles' && <ProfilePicker picked={picked} onChange={setPicked} error={sourceError} />}
      <div class="row">
        <Field label="Name (optional)" id="batch-name" error={form.error('name')}>
          <input id="batch-name" name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} aria-invalid={form.error('name') ? true : undefined} />
        </Field>
        <WholeNumberField label="Priority" id="batch-priority" name="priority" value={priority} onChange={setPriority} error={form.error('priority')} hint="Higher runs first" />
        <WholeNumberField
          label="Reuse results younger than (s)"
          id="batch-max-age"
          name="max_age_s"
          min={0}
          value={maxAge}
          onChange={setMaxAge}
          error={form.error('max_age_s')}
          hint="Empty: the server's default"
        />
      </div>
      <label class="choice">
        <input type="checkbox" name="hold" checked={hold} onChange={(e) => setHold(e.currentTarget.checked)} />
        Create it paused (it enters the queue when resumed)
      </label>
      <SubmitButton busy={form.busy} label="Create batch" busyLabel="Creating…" />
    </form>
  );
}

const SOURCE_LABELS: Record<Source, string> = { usernames: 'Paste usernames', niche: 'A whole niche', profiles: 'Pick profiles' };


/** The niches to choose from; `id` names the field (another form than the batch's has its own). */
export function NicheSelect(props: { value: string; onChange: (id: string) => void; error?: string; id?: string; none?: string }) {
  const niches = useLoad(() => get<Page<ApiNiche>>('/niches', { limit: 1000 }), []);
  return (
    <SelectField label="Niche" id={props.id ?? 'batch-niche'} name="niche_id" value={props.value} onChange={props.onChange} none={props.none ?? 'Choose a niche…'} options={(niches.data?.items ?? []).map((n) => [n.id, n.name] as const)} error={props.error ?? (niches.error ? describeError(niches.error) : undefined)} />
  );
}

/** Profiles found by username, picked by ticking them; `id` names the search field. */
export function ProfilePicker(props: { picked: Map<string, string>; onChange: (picked: Map<string, string>) => void; error?: string; id?: string }) {
  const searchId = props.id ?? 'batch-profile-search';
  const [search, setSearch] = useState('');
  const found = useLoad(() => get<Page<ApiProfile>>('/profiles', { username: search.trim() || undefined, limit: 50 }), [search]);
  const toggle = (p: ApiProfile) => {
    const next = new Map(props.picked);
    if (next.has(p.id)) next.delete(p.id);
    else next.set(p.id, p.username);
    props.onChange(next);
  };
  return (
    <div class="picker">
      <Field label="Find profiles by username" id={searchId} error={props.error}>
        <input id={searchId} type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
      </Field>
      <p class="muted">{props.picked.size} picked{props.picked.size > 0 ? `: ${[...props.picked.values()].slice(0, 8).join(', ')}${props.picked.size > 8 ? '…' : ''}` : ''}</p>
      {found.error ? <p class="field-error">{describeError(found.error)}</p> : null}
      <ul class="pick-list">
        {found.data?.items.map((p) => (
          <li key={p.id}>
            <label class="choice">
              <input type="checkbox" checked={props.picked.has(p.id)} onChange={() => toggle(p)} />
              {p.username}
            </label>
          </li>
        ))}
      </ul>
    </div>
  );
}
