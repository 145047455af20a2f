/** The sign-in: the API key once, traded for an httpOnly cookie; the page never keeps the key itself. */
import { useState } from 'preact/hooks';
import { ApiError, post } from '../api.js';
import { Field, SubmitButton, useSubmit } from '../components.js';

export function LoginPage({ signedIn }: { signedIn: () => void }) {
  const [key, setKey] = useState('');
  // a wrong key is a 401 whose message says so; anything else (the server down, say) as everywhere else
  const form = useSubmit(
    async () => {
      await post('/console/login', { key });
      setKey('');
      signedIn();
    },
    (err) => (err instanceof ApiError && err.status === 401 ? 'That is not the API key.' : undefined),
  );
  const error = form.other([]);
  return (
    <main class="login">
      <form class="card form" onSubmit={form.submit} aria-label="Sign in">
        <h1>storycheck</h1>
        <p class="muted">This server needs its API key. You enter it once; the browser keeps a sign-in cookie, not the key.</p>
        <Field label="API key" id="login-key" error={error}>
          <input id="login-key" type="password" autocomplete="current-password" required value={key} onInput={(e) => setKey(e.currentTarget.value)} autoFocus />
        </Field>
        <SubmitButton busy={form.busy} label="Sign in" />
      </form>
    </main>
  );
}
