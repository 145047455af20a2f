/**
 * The storycheck console: asks the server who it is talking to (GET /console/session), asks for the API key
 * when the server has one and the browser is not signed in, then shows the page the URL's hash names.
 */
import './style.css';
import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { configureApi, describeError, get, post, type ConsoleSessionInfo } from './api.js';
import { ErrorNote, Link, NoticeProvider } from './components.js';
import { LoginPage } from './pages/login.js';
import { BatchPage } from './pages/batch.js';
import { BatchesPage } from './pages/batches.js';
import { EventsPage } from './pages/events.js';
import { NichesPage } from './pages/niches.js';
import { OverviewPage } from './pages/overview.js';
import { ProfilePage } from './pages/profile.js';
import { ProfilesPage } from './pages/profiles.js';
import { ProxiesPage } from './pages/proxies.js';
import { WatchesPage } from './pages/watches.js';
import { WebhookPage } from './pages/webhook.js';
import { WebhooksPage } from './pages/webhooks.js';
import { usePath } from './router.js';
import { SessionContext } from './session.js';

const NAV = [
  { to: '/', label: 'Queue' },
  { to: '/batches', label: 'Batches' },
  { to: '/profiles', label: 'Profiles' },
  { to: '/events', label: 'Events' },
  { to: '/niches', label: 'Niches' },
  { to: '/proxies', label: 'Proxies' },
  { to: '/watches', label: 'Watches' },
  { to: '/webhooks', label: 'Webhooks' },
] as const;

function App() {
  const [session, setSession] = useState<ConsoleSessionInfo | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(() => {
    get<ConsoleSessionInfo>('/console/session').then(
      (info) => {
        configureApi({ csrfToken: info.csrf_token, onSignedOut: () => setSession((s) => (s ? { ...s, signed_in: false, csrf_token: null } : s)) });
        setSession(info);
        setError(null);
      },
      (err: unknown) => {
        setError(err);
        setTimeout(load, 5_000); // the server may be starting; try again by itself
      },
    );
  }, []);
  useEffect(load, [load]);

  if (!session) {
    return (
      <main class="boot">
        {error ? <ErrorNote error={error} /> : <p>Loading the storycheck console…</p>}
      </main>
    );
  }
  if (!session.signed_in) return <LoginPage signedIn={load} />;
  return (
    <SessionContext.Provider value={session}>
      <NoticeProvider>
        <Layout session={session} signedOut={load} />
      </NoticeProvider>
    </SessionContext.Provider>
  );
}

function Layout({ session, signedOut }: { session: ConsoleSessionInfo; signedOut: () => void }) {
  const full = usePath();
  const [path, query = ''] = full.split('?') as [string, string?];
  const params = new URLSearchParams(query);
  const section = `/${path.split('/')[1] ?? ''}`;
  const logout = async () => {
    try {
      await post('/console/logout');
    } catch (err) {
      window.alert(describeError(err));
    }
    signedOut();
  };
  const webUi = session.temporal_ui_url ? `${session.temporal_ui_url}/namespaces/${encodeURIComponent(session.namespace)}/workflows` : null;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">storycheck</span>
        <nav aria-label="Pages">
          {NAV.map((item) => (
            <a key={item.to} href={`#${item.to}`} aria-current={section === item.to ? 'page' : undefined}>
              {item.label}
            </a>
          ))}
        </nav>
        <div class="top-end">
          {webUi && (
            <a href={webUi} target="_blank" rel="noopener noreferrer">
              Temporal Web UI
            </a>
          )}
          <a href="/docs" target="_blank" rel="noopener noreferrer">
            API docs
          </a>
          {session.auth_required && (
            <button type="button" class="btn btn-plain" onClick={logout}>
              Sign out
            </button>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} params={params} />
      </main>
    </>
  );
}

function Page({ path, params }: { path: string; params: URLSearchParams }) {
  const batch = /^\/batches\/([0-9a-f-]{36})$/i.exec(path);
  if (batch) return <BatchPage key={batch[1]} id={batch[1]!} />;
  const profile = /^\/profiles\/([0-9a-f-]{36})$/i.exec(path);
  if (profile) return <ProfilePage key={profile[1]} id={profile[1]!} />;
  const webhook = /^\/webhooks\/([0-9a-f-]{36})$/i.exec(path);
  if (webhook) return <WebhookPage key={webhook[1]} id={webhook[1]!} />;
  switch (path) {
    case '/':
      return <OverviewPage />;
    case '/batches':
      return <BatchesPage />;
    case '/profiles':
      return <ProfilesPage key={params.get('niche') ?? ''} niche={params.get('niche') ?? undefined} />;
    case '/events':
      return <EventsPage />;
    case '/niches':
      return <NichesPage />;
    case '/proxies':
      return <ProxiesPage />;
    case '/watches':
      return <WatchesPage />;
    case '/webhooks':
      return <WebhooksPage />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            There is no page here. Go to the <Link to="/">queue</Link>.
          </p>
        </section>
      );
  }
}

const root = document.getElementById('app')!;
root.textContent = ''; // the shell's loading line
render(<App />, root);
