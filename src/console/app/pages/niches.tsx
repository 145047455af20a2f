/** Niches: the groups profiles belong to, and a batch's possible source. */
import { useState } from 'preact/hooks';
import { ApiError, describeError, get, post, type ApiNiche, type Page } from '../api.js';
import { Empty, ErrorNote, Field, Link, Loading, Pager, Table, useNotify, usePager } from '../components.js';
import { dateTime } from '../format.js';
import { useLoad } from '../live.js';

export function NichesPage() {
  const pager = usePager('');
  const list = useLoad(() => get<Page<ApiNiche>>('/niches', { limit: 100, cursor: pager.cursor }), [pager.cursor]);
  return (
    <section>
      <header class="page-head">
        <h1>Niches</h1>
      </header>
      <div class="split">
        <div>
          <ErrorNote error={list.error} />
          {!list.data && !list.error && <Loading what="niches" />}
          {list.data && list.data.items.length === 0 && <Empty>No niche yet.</Empty>}
          {list.data && list.data.items.length > 0 && (
            <Table label="Niches">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Created</th>
                  <th>Profiles</th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((n) => (
                  <tr key={n.id}>
                    <td>{n.name}</td>
                    <td>{dateTime(n.created_at)}</td>
                    <td>
                      <Link to={`/profiles?niche=${n.id}`}>Profiles</Link>
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )}
          <Pager pager={pager} nextCursor={list.data?.next_cursor} />
        </div>
        <CreateNiche done={list.reload} />
      </div>
    </section>
  );
}

function CreateNiche({ done }: { done: () => void }) {
  const notify = useNotify();
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const niche = await post<ApiNiche>('/niches', { name: name.trim() });
      notify('ok', `Niche "${niche.name}" created.`);
      setName('');
      done();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 400 ? (err.fieldIssues().get('name') ?? err.message) : describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card form" onSubmit={submit} aria-label="New niche" noValidate>
      <h2>New niche</h2>
      <Field label="Name" id="niche-name" error={error ?? undefined}>
        <input id="niche-name" value={name} onInput={(e) => setName(e.currentTarget.value)} aria-invalid={error ? true : undefined} />
      </Field>
      <div class="actions">
        <button type="submit" class="btn btn-primary" disabled={busy} aria-busy={busy}>
          Create niche
        </button>
      </div>
    </form>
  );
}
