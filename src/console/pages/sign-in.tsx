/**
 * The sign-in form: the admin token once, `POST /console/session`; the platform's refusal is
 * shown as it words it.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { signIn } from '../api.js';

export function SignInPage({
  onSignedIn,
  notice,
}: {
  onSignedIn: () => Promise<void>;
  notice?: string | undefined;
}) {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    input.current?.focus();
  }, []);

  const submit = (e: Event) => {
    e.preventDefault();
    const token = input.current?.value.trim() ?? '';
    setBusy(true);
    setError(undefined);
    signIn(token)
      .then(onSignedIn)
      .then(() => setBusy(false))
      .catch((err: Error) => {
        setError(err.message);
        setBusy(false);
        input.current?.select();
      });
  };

  return (
    <main id="main" class="sign-in-page">
      <form id="sign-in" onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Hangar console</h1>
        {notice ? <p role="status">{notice}</p> : null}
        <label for="token">Admin token</label>
        <input
          ref={input}
          id="token"
          name="token"
          type="password"
          autoComplete="current-password"
          required
          aria-describedby="token-hint"
          aria-invalid={error ? 'true' : undefined}
          aria-errormessage={error ? 'sign-in-error' : undefined}
        />
        <p id="token-hint" class="hint">
          It is in the file <code>&lt;data-dir&gt;/admin-token</code> (the data dir <code>hangar dev</code> or{' '}
          <code>hangar serve</code> runs with).
        </p>
        {error ? (
          <p id="sign-in-error" class="error" role="alert">
            {error}
          </p>
        ) : null}
        <button id="sign-in-submit" type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
