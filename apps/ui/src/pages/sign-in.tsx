import { useState } from 'react';
import { api, ApiError } from '../api';
import { ErrorNote } from '../components/common';
import { startOidcSignIn, type OidcSettings } from '../oidc';
import { saveCredential, type Credential } from '../session';

/** Asks the API who this token is; a token with no role at all is refused here rather than on every page. */
export async function whoami(token: string, kind: Credential['kind']): Promise<Credential> {
  try {
    const me = await api<{ id: string; roles: { project: string; role: string }[] }>('/api/v1/whoami', { token });
    return { kind, token, id: me.id, roles: me.roles };
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) throw new ApiError(401, e.code, 'The API does not accept this credential: it may be wrong, expired or revoked.');
    if (e instanceof ApiError && e.status === 403) throw new ApiError(403, e.code, 'This credential holds no role in any project; ask an admin for one.');
    throw e;
  }
}

export function SignInPage(props: { oidc: OidcSettings | null; notice: string | null; onSignedIn: (c: Credential) => void }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);

  const signIn = async (token: string, kind: Credential['kind']) => {
    setBusy(true);
    setError(null);
    try {
      const credential = await whoami(token.trim(), kind);
      saveCredential(credential);
      props.onSignedIn(credential);
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in" id="main">
      <h1>gpubatch</h1>
      <p className="muted">Sign in to see the queues, jobs, workers and usage your roles allow.</p>
      {props.notice && <p className="notice" role="status">{props.notice}</p>}
      <form onSubmit={(e) => { e.preventDefault(); void signIn(key, 'key'); }} aria-label="Sign in with an API key">
        <label htmlFor="api-key">API key</label>
        <input id="api-key" name="api-key" type="password" autoComplete="off" spellCheck={false} required value={key}
          onChange={(e) => setKey(e.target.value)} placeholder="gpb_…" aria-describedby="api-key-help" />
        <p id="api-key-help" className="muted">Kept in this tab only (sessionStorage) and sent to this API alone.</p>
        <button type="submit" disabled={busy || !key.trim()}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
      {props.oidc && (
        <div className="oidc" data-testid="oidc-sign-in">
          <h2>Or with your organisation's account</h2>
          {props.oidc.clientId
            ? <button type="button" disabled={busy} onClick={() => startOidcSignIn(props.oidc!).catch((e) => setError(e as Error))}>Sign in with OIDC ({new URL(props.oidc.issuer).host})</button>
            : <p className="muted">This API accepts OIDC tokens from {props.oidc.issuer}, but no dashboard client is configured (GPUBATCH_UI_OIDC_CLIENT_ID). Paste an access token as the key above instead.</p>}
        </div>
      )}
      <ErrorNote error={error} />
    </main>
  );
}
