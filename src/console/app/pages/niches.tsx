/** Niches: the groups profiles belong to, and a batch's possible source. */
import { useState } from 'preact/hooks';
import { get, post, type ApiNiche, type Page } from '../api.js';
import { Field, Link, ListTable, SplitPage, SubmitButton, useNotify, usePager, useSubmit } from '../components.js';
import { dateTime } from '../format.js';
import { useLoad } from '../live.js';

export function NichesPage() {
  const pager = usePager('');
  const list = useLoad(() => get<Page<ApiNiche>>('/niches', { limit: 100, cursor: pager.cursor }), [pager.cursor]);
  return (
    <SplitPage title="Niches" aside={<CreateNiche done={list.reload} />}>
      <ListTable
        list={list}
        pager={pager}
        what="niches"
        empty="No niche yet."
        label="Niches"
        columns={['Name', 'Created', 'Profiles']}
        row={(n) => (
          <tr key={n.id}>
            <td>{n.name}</td>
            <td>{dateTime(n.created_at)}</td>
            <td>
              <Link to={`/profiles?niche=${n.id}`}>Profiles</Link>
            </td>
          </tr>
        )}
      />
    </SplitPage>
  );
}

function CreateNiche({ done }: { done: () => void }) {
  const notify = useNotify();
  const [name, setName] = useState('');
  const form = useSubmit(async () => {
    const niche = await post<ApiNiche>('/niches', { name: name.trim() });
    notify('ok', `Niche "${niche.name}" created.`);
    setName('');
    done();
  });
  const error = form.other([]);
  return (
    <form class="card form" onSubmit={form.submit} aria-label="New niche" noValidate>
      <h2>New niche</h2>
      <Field label="Name" id="niche-name" error={error}>
        <input id="niche-name" value={name} onInput={(e) => setName(e.currentTarget.value)} aria-invalid={error ? true : undefined} />
      </Field>
      <SubmitButton busy={form.busy} label="Create niche" />
    </form>
  );
}
