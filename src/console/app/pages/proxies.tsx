/**
 * The proxy pool and the upstream sessions: state, why a proxy is out, when a resting one is back, its
 * learned rate and counts; adding, enabling, disabling and deleting. Credentials are sent once, when a proxy
 * or session is added, and never shown: the API does not return them.
 */
import { useState } from 'preact/hooks';
import { del, get, patch, post, type ApiProxy, type ApiSession, type Page } from '../api.js';
import { ActionButton, Field, ListTable, SelectField, SplitPage, StatusBadge, SubmitButton, useNotify, usePager, useSubmit } from '../components.js';
import { ago, count } from '../format.js';
import { useLoad } from '../live.js';

/** Why a proxy is disabled, as the operator reads it. */
const DISABLED_BECAUSE: Record<string, string> = {
  operator: 'by an operator',
  failures: 'after repeated failures',
  blocked: 'the source refuses its address (403)',
};

const POLL_MS = 5_000;

export function ProxiesPage() {
  const pager = usePager('');
  const proxies = useLoad(() => get<Page<ApiProxy>>('/proxies', { limit: 100, cursor: pager.cursor }), [pager.cursor], POLL_MS);
  return (
    <SplitPage title="Proxies" aside={<AddProxy done={proxies.reload} />} after={<Sessions proxies={proxies.data?.items ?? []} />}>
      <ListTable
        list={proxies}
        pager={pager}
        what="proxies"
        empty="No proxy yet: nothing can be checked until one is added."
        label="Proxies"
        columns={['Proxy', 'Status', 'Resting until', ['Rate', 'num'], ['OK', 'num'], ['Failed', 'num'], 'Last used', 'Actions']}
        row={(p) => <ProxyRow key={p.id} proxy={p} done={proxies.reload} />}
      />
    </SplitPage>
  );
}

function ProxyRow({ proxy: p, done }: { proxy: ApiProxy; done: () => void }) {
  return (
    <tr data-proxy-url={p.url}>
      <td class="nowrap">{p.url}</td>
      <td>
        <StatusBadge status={p.status} />
        {p.disabled_reason && <div class="muted">{DISABLED_BECAUSE[p.disabled_reason]}</div>}
        {p.last_error && <div class="error-text">{p.last_error}</div>}
      </td>
      <td>{p.status === 'cooling_down' ? ago(p.rate_limited_until) : '—'}</td>
      <td class="num">{p.learned_rate_per_s === null ? '—' : `${p.learned_rate_per_s.toFixed(2)} /s`}</td>
      <td class="num">{count(p.success_count)}</td>
      <td class="num">{count(p.failure_count)}</td>
      <td>{ago(p.last_used_at)}</td>
      <td>
        <div class="actions">
          {p.status === 'disabled' ? (
            <ActionButton label="Enable" variant="primary" success={`${p.url} enabled.`} run={() => patch(`/proxies/${p.id}`, { status: 'active' })} done={done} />
          ) : (
            <ActionButton label="Disable" success={`${p.url} disabled.`} run={() => patch(`/proxies/${p.id}`, { status: 'disabled' })} done={done} />
          )}
          <ActionButton label="Delete" variant="danger" confirm={`Delete proxy ${p.url}?`} success={`${p.url} deleted.`} run={() => del(`/proxies/${p.id}`)} done={done} />
        </div>
      </td>
    </tr>
  );
}

function AddProxy({ done }: { done: () => void }) {
  const notify = useNotify();
  const [url, setUrl] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const form = useSubmit(async () => {
    const proxy = await post<ApiProxy>('/proxies', { url: url.trim(), username: username || undefined, password: password || undefined });
    notify('ok', `Proxy ${proxy.url} added.`);
    setUrl('');
    setUsername('');
    setPassword('');
    done();
  });
  const urlError = form.other(['username', 'password']);
  return (
    <form class="card form" onSubmit={form.submit} aria-label="Add a proxy" noValidate>
      <h2>Add a proxy</h2>
      <Field label="URL" id="proxy-url" error={urlError} hint="http://host:port or https://host:port; credentials may be in the URL">
        <input id="proxy-url" value={url} placeholder="http://proxy.example:8080" onInput={(e) => setUrl(e.currentTarget.value)} aria-invalid={urlError ? true : undefined} />
      </Field>
      <div class="row">
        <Field label="Username (optional)" id="proxy-username" error={form.error('username')}>
          <input id="proxy-username" autocomplete="off" value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
        </Field>
        <Field label="Password (optional)" id="proxy-password" error={form.error('password')}>
          <input id="proxy-password" type="password" autocomplete="new-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </Field>
      </div>
      <SubmitButton busy={form.busy} label="Add proxy" />
    </form>
  );
}

function Sessions({ proxies }: { proxies: ApiProxy[] }) {
  const pager = usePager('');
  const sessions = useLoad(() => get<Page<ApiSession>>('/sessions', { limit: 100, cursor: pager.cursor }), [pager.cursor], POLL_MS);
  const proxyUrls = new Map(proxies.map((p) => [p.id, p.url]));
  return (
    <section aria-label="Sessions">
      <h2>Sessions</h2>
      <div class="split">
        <div>
          <ListTable
            list={sessions}
            pager={pager}
            what="sessions"
            empty="No upstream session."
            label="Sessions"
            columns={['Session', 'Status', 'Bound to proxy', 'Last used', 'Actions']}
            row={(s) => (
              <tr key={s.id}>
                <td class="nowrap mono">{s.id.slice(0, 8)}</td>
                <td>
                  <StatusBadge status={s.status} />
                </td>
                <td>{s.proxy_id ? (proxyUrls.get(s.proxy_id) ?? s.proxy_id.slice(0, 8)) : 'any'}</td>
                <td>{ago(s.last_used_at)}</td>
                <td>
                  <div class="actions">
                    <ActionButton label="Validate" success="Session probed." run={() => post(`/sessions/${s.id}/validate`)} done={sessions.reload} />
                    <ActionButton label="Delete" variant="danger" confirm="Delete this session?" success="Session deleted." run={() => del(`/sessions/${s.id}`)} done={sessions.reload} />
                  </div>
                </td>
              </tr>
            )}
          />
        </div>
        <AddSession proxies={proxies} done={sessions.reload} />
      </div>
    </section>
  );
}

function AddSession({ proxies, done }: { proxies: ApiProxy[]; done: () => void }) {
  const notify = useNotify();
  const [token, setToken] = useState('');
  const [proxyId, setProxyId] = useState('');
  const form = useSubmit(async () => {
    await post<ApiSession>('/sessions', { token, proxy_id: proxyId || undefined });
    notify('ok', 'Session added.');
    setToken('');
    done();
  });
  const tokenError = form.other(['proxy_id']);
  return (
    <form class="card form" onSubmit={form.submit} aria-label="Add a session" noValidate>
      <h2>Add a session</h2>
      <Field label="Session token" id="session-token" error={tokenError} hint="The upstream login cookie; it is stored, never shown again">
        <input id="session-token" type="password" autocomplete="off" value={token} onInput={(e) => setToken(e.currentTarget.value)} />
      </Field>
      <SelectField label="Bound to proxy" id="session-proxy" value={proxyId} onChange={setProxyId} none="Any proxy" options={proxies.map((p) => [p.id, p.url] as const)} error={form.error('proxy_id')} />
      <SubmitButton busy={form.busy} label="Add session" />
    </form>
  );
}
