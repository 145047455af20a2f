/** The sign-in: the API key once, traded for an httpOnly cookie; the page never keeps the key itself. */
import { useState } from 'preact/hooks';
import { ApiError, describeError, post } from '../api.js';
import { Field } from '../components.js';

export function LoginPage({ signedIn }: { signedIn: () => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await post('/console/login', { key });
      setKey('');
      signedIn();
    } catch (err) {
      // a wrong key is a 401 whose message says so; anything else (server down) as everywhere else
      setError(err instanceof ApiError && err.status === 401 ? 'That is not the API key.' : describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form class="card form" onSubmit={submit} aria-label="Sign in">
        <h1>storycheck</h1>
        <p class="muted">This server needs its API key. You enter it once; the browser keeps a sign-in cookie, not the key.</p>
        <Field label="API key" id="login-key" error={error ?? undefined}>
          <input id="login-key" type="password" autocomplete="current-password" required value={key} onInput={(e) => setKey(e.currentTarget.value)} autoFocus />
        </Field>
        <div class="actions">
          <button type="submit" class="btn btn-primary" disabled={busy || key === ''} aria-busy={busy}>
            Sign in
          </button>
        </div>
      </form>
    </main>
  );
}
