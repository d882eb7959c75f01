/**
 * OIDC sign-in for a browser: the authorization code flow with PKCE, as a
 * public client (no secret in the page). The API only verifies the access
 * token it then receives (OIDC_ISSUER, OIDC_AUDIENCE); the dashboard's client
 * id comes from GPUBATCH_UI_OIDC_CLIENT_ID through /ui/config.json.
 */
export interface OidcSettings { issuer: string; audience: string; clientId: string | null }

const PENDING = 'gpubatch.oidc.pending';

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function random(n = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(n)));
}

async function discovery(issuer: string): Promise<{ authorization_endpoint: string; token_endpoint: string }> {
  const res = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  if (!res.ok) throw new Error(`the issuer's discovery document answered ${res.status}`);
  const doc = await res.json();
  if (!doc.authorization_endpoint || !doc.token_endpoint) throw new Error('the issuer names no authorization or token endpoint');
  return doc;
}

export function redirectUri(): string {
  return `${location.origin}${location.pathname}`;
}

/** Sends the browser to the issuer's sign-in page. */
export async function startOidcSignIn(settings: OidcSettings): Promise<void> {
  if (!settings.clientId) throw new Error('no OIDC client is configured for the dashboard (GPUBATCH_UI_OIDC_CLIENT_ID)');
  const { authorization_endpoint } = await discovery(settings.issuer);
  const verifier = random(48);
  const state = random(16);
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state }));
  const url = new URL(authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: settings.clientId, redirect_uri: redirectUri(), scope: 'openid profile',
    state, code_challenge: challenge, code_challenge_method: 'S256', audience: settings.audience,
  }).toString();
  location.assign(url.toString());
}

/**
 * On return from the issuer (?code=&state=), trades the code for an access
 * token; null when this page load is not such a return.
 */
export async function finishOidcSignIn(settings: OidcSettings): Promise<string | null> {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  const error = params.get('error');
  if (!code && !error) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null') as { verifier: string; state: string } | null;
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', `${location.pathname}${location.hash}`);
  if (error) throw new Error(`the issuer refused the sign-in: ${error} ${params.get('error_description') ?? ''}`.trim());
  if (!pending || params.get('state') !== pending.state) throw new Error('the sign-in reply does not match a sign-in started here; try again');
  const { token_endpoint } = await discovery(settings.issuer);
  const res = await fetch(token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code: code!, redirect_uri: redirectUri(), client_id: settings.clientId ?? '', code_verifier: pending.verifier,
    }).toString(),
  });
  if (!res.ok) throw new Error(`the issuer's token endpoint answered ${res.status}`);
  const body = await res.json();
  if (typeof body.access_token !== 'string') throw new Error('the issuer returned no access token');
  return body.access_token;
}
