/** Profiles with their statistics, found by username, niche and story; and adding many at once into a niche. */
import { useState } from 'preact/hooks';
import { ApiError, describeError, get, post, type ApiCreatedProfiles, type ApiNiche, type ApiProfile, type Page } from '../api.js';
import { Empty, ErrorNote, Field, Loading, Pager, Table, useNotify, usePager } from '../components.js';
import { ago, count, splitUsernames } from '../format.js';
import { useLoad } from '../live.js';

export function ProfilesPage({ niche }: { niche?: string }) {
  const [search, setSearch] = useState('');
  const [nicheId, setNicheId] = useState(niche ?? '');
  const [activeStory, setActiveStory] = useState('');
  const niches = useLoad(() => get<Page<ApiNiche>>('/niches', { limit: 1000 }), []);
  const nicheNames = new Map(niches.data?.items.map((n) => [n.id, n.name]));
  const pager = usePager(`${search}|${nicheId}|${activeStory}`);
  const list = useLoad(
    () =>
      get<Page<ApiProfile>>('/profiles', {
        username: search.trim() || undefined,
        niche_id: nicheId || undefined,
        active_story: activeStory || undefined,
        limit: 50,
        cursor: pager.cursor,
      }),
    [search, nicheId, activeStory, pager.cursor],
  );
  return (
    <section>
      <header class="page-head">
        <h1>Profiles</h1>
      </header>
      <div class="split">
        <div>
          <div class="filters">
            <Field label="Username" id="profiles-search">
              <input id="profiles-search" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
            </Field>
            <Field label="Niche" id="profiles-niche">
              <select id="profiles-niche" value={nicheId} onChange={(e) => setNicheId(e.currentTarget.value)}>
                <option value="">Any</option>
                {niches.data?.items.map((n) => (
                  <option key={n.id} value={n.id}>
                    {n.name}
                  </option>
                ))}
              </select>
            </Field>
            <Field label="Active story" id="profiles-story">
              <select id="profiles-story" value={activeStory} onChange={(e) => setActiveStory(e.currentTarget.value)}>
                <option value="">Any</option>
                <option value="true">Yes</option>
                <option value="false">No</option>
              </select>
            </Field>
          </div>
          <ErrorNote error={list.error} />
          {!list.data && !list.error && <Loading what="profiles" />}
          {list.data && list.data.items.length === 0 && <Empty>No profile matches.</Empty>}
          {list.data && list.data.items.length > 0 && (
            <Table label="Profiles">
              <thead>
                <tr>
                  <th>Username</th>
                  <th>Niche</th>
                  <th>Story now</th>
                  <th class="num">Checks</th>
                  <th class="num">Detections</th>
                  <th>Last story seen</th>
                  <th>Last checked</th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((p) => (
                  <tr key={p.id}>
                    <td>{p.username}</td>
                    <td>{p.niche_id ? (nicheNames.get(p.niche_id) ?? '…') : '—'}</td>
                    <td>{p.last_checked_at === null ? 'not checked yet' : p.active_story ? 'yes' : 'no'}</td>
                    <td class="num">{count(p.total_checks)}</td>
                    <td class="num">{count(p.total_detections)}</td>
                    <td>{ago(p.last_story_detected)}</td>
                    <td>{ago(p.last_checked_at)}</td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )}
          <Pager pager={pager} nextCursor={list.data?.next_cursor} />
        </div>
        <AddProfiles niches={niches.data?.items ?? []} done={list.reload} />
      </div>
    </section>
  );
}

function AddProfiles({ niches, done }: { niches: ApiNiche[]; done: () => void }) {
  const notify = useNotify();
  const [text, setText] = useState('');
  const [nicheId, setNicheId] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const result = await post<ApiCreatedProfiles>('/profiles', { usernames: splitUsernames(text), niche_id: nicheId || undefined });
      notify('ok', `${result.created} profiles added, ${result.existing} already known.`);
      setText('');
      done();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 400 ? (err.fieldIssues().values().next().value ?? err.message) : describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card form" onSubmit={submit} aria-label="Add profiles" noValidate>
      <h2>Add profiles</h2>
      <Field label="Usernames" id="add-profiles-usernames" error={error ?? undefined} hint="One per line, or separated by commas or spaces">
        <textarea id="add-profiles-usernames" rows={6} value={text} onInput={(e) => setText(e.currentTarget.value)} aria-invalid={error ? true : undefined} />
      </Field>
      <Field label="Into niche" id="add-profiles-niche">
        <select id="add-profiles-niche" value={nicheId} onChange={(e) => setNicheId(e.currentTarget.value)}>
          <option value="">No niche</option>
          {niches.map((n) => (
            <option key={n.id} value={n.id}>
              {n.name}
            </option>
          ))}
        </select>
      </Field>
      <div class="actions">
        <button type="submit" class="btn btn-primary" disabled={busy} aria-busy={busy}>
          {busy ? 'Adding…' : 'Add profiles'}
        </button>
      </div>
    </form>
  );
}
