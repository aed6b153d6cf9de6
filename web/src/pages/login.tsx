// Sign-in: trades an admin's email and password for an admin token.
import { useState } from 'preact/hooks';
import { admin, setToken } from '../api';
import { Alert, Field, useAction } from '../ui';

export function Login({ onSignedIn }: { onSignedIn: () => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [run, error, busy] = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    run(async () => {
      const res = await admin<{ token: string }>('POST', '/login', { email, password });
      setToken(res.token);
      onSignedIn();
    });
  };
  return (
    <main class="login" id="main">
      <form class="card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Sign in to Skybridge</h1>
        <Alert error={error} />
        <Field label="Email" type="email" autocomplete="username" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required />
        <Field
          label="Password"
          type="password"
          autocomplete="current-password"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          required
        />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
