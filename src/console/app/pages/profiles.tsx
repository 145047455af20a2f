/**
 * Profiles with their statistics, found by username, niche and story, each linking to its page, and exported as
 * found; and adding many at once into a niche.
 */
import { useState } from 'preact/hooks';
import { get, post, type ApiCreatedProfiles, type ApiNiche, type ApiProfile, type Page } from '../api.js';
import { Field, Link, ListTable, SelectField, SplitPage, SubmitButton, useNotify, usePager, useSubmit } from '../components.js';
import { ExportLinks } from '../export-links.js';
import { ago, count, splitUsernames } from '../format.js';
import { useLoad } from '../live.js';

export function ProfilesPage({ niche }: { niche?: string }) {
  const [search, setSearch] = useState('');
  const [nicheId, setNicheId] = useState(niche ?? '');
  const [activeStory, setActiveStory] = useState('');
  const niches = useLoad(() => get<Page<ApiNiche>>('/niches', { limit: 1000 }), []);
  const nicheNames = new Map(niches.data?.items.map((n) => [n.id, n.name]));
  const pager = usePager(`${search}|${nicheId}|${activeStory}`);
  const filters = { username: search.trim() || undefined, niche_id: nicheId || undefined, active_story: activeStory || undefined };
  const list = useLoad(() => get<Page<ApiProfile>>('/profiles', { ...filters, limit: 50, cursor: pager.cursor }), [search, nicheId, activeStory, pager.cursor]);
  return (
    <SplitPage title="Profiles" aside={<AddProfiles niches={niches.data?.items ?? []} done={list.reload} />}>
      <div class="filters">
        <Field label="Username" id="profiles-search">
          <input id="profiles-search" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        </Field>
        <SelectField label="Niche" id="profiles-niche" value={nicheId} onChange={setNicheId} none="Any" options={(niches.data?.items ?? []).map((n) => [n.id, n.name] as const)} />
        <SelectField label="Active story" id="profiles-story" value={activeStory} onChange={setActiveStory} none="Any" options={[['true', 'Yes'], ['false', 'No']]} />
        <ExportLinks path="/profiles" query={filters} what="profiles" />
      </div>
      <ListTable
        list={list}
        pager={pager}
        what="profiles"
        empty="No profile matches."
        label="Profiles"
        columns={['Username', 'Niche', 'Story now', ['Checks', 'num'], ['Detections', 'num'], 'Last story seen', 'Last checked']}
        row={(p) => (
          <tr key={p.id}>
            <td>
              <Link to={`/profiles/${p.id}`}>{p.username}</Link>
            </td>
            <td>{p.niche_id ? (nicheNames.get(p.niche_id) ?? '…') : '—'}</td>
            <td>{p.last_checked_at === null ? 'not checked yet' : p.active_story ? 'yes' : 'no'}</td>
            <td class="num">{count(p.total_checks)}</td>
            <td class="num">{count(p.total_detections)}</td>
            <td>{ago(p.last_story_detected)}</td>
            <td>{ago(p.last_checked_at)}</td>
          </tr>
        )}
      />
    </SplitPage>
  );
}

function AddProfiles({ niches, done }: { niches: ApiNiche[]; done: () => void }) {
  const notify = useNotify();
  const [text, setText] = useState('');
  const [nicheId, setNicheId] = useState('');
  const form = useSubmit(async () => {
    const result = await post<ApiCreatedProfiles>('/profiles', { usernames: splitUsernames(text), niche_id: nicheId || undefined });
    notify('ok', `${result.created} profiles added, ${result.existing} already known.`);
    setText('');
    done();
  });
  const error = form.other(['niche_id']);
  return (
    <form class="card form" onSubmit={form.submit} aria-label="Add profiles" noValidate>
      <h2>Add profiles</h2>
      <Field label="Usernames" id="add-profiles-usernames" error={error} hint="One per line, or separated by commas or spaces">
        <textarea id="add-profiles-usernames" rows={6} value={text} onInput={(e) => setText(e.currentTarget.value)} aria-invalid={error ? true : undefined} />
      </Field>
      <SelectField label="Into niche" id="add-profiles-niche" value={nicheId} onChange={setNicheId} none="No niche" options={niches.map((n) => [n.id, n.name] as const)} error={form.error('niche_id')} />
      <SubmitButton busy={form.busy} label="Add profiles" busyLabel="Adding…" />
    </form>
  );
}
