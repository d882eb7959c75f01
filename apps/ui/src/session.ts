/**
 * The signed-in credential: an API key or an OIDC access token, kept in
 * sessionStorage (this tab only, gone when it closes; never localStorage or
 * a cookie, so no other site can make the browser send it).
 */
const KEY = 'gpubatch.credential';

export interface Credential {
  kind: 'key' | 'oidc';
  token: string;
  /** Who the API says this is (GET /api/v1/whoami). */
  id: string;
  roles: { project: string; role: string }[];
}

export function loadCredential(): Credential | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Credential) : null;
  } catch {
    return null;
  }
}

export function saveCredential(c: Credential): void {
  sessionStorage.setItem(KEY, JSON.stringify(c));
}

export function clearCredential(): void {
  sessionStorage.removeItem(KEY);
}

/** The roles a caller holds decide which buttons it sees; the API checks again on every call. */
export function canDo(c: Credential | null, right: 'submit' | 'operate'): boolean {
  if (!c) return false;
  const ok = right === 'submit' ? ['member', 'operator', 'admin'] : ['operator', 'admin'];
  return c.roles.some((r) => ok.includes(r.role) && (right === 'submit' || r.project === '*'));
}
