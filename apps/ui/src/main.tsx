import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { onSignedOut } from './api';
import { finishOidcSignIn, type OidcSettings } from './oidc';
import { JobPage } from './pages/job';
import { JobsPage } from './pages/jobs';
import { OverviewPage } from './pages/overview';
import { SchedulesPage } from './pages/schedules';
import { SignInPage, whoami } from './pages/sign-in';
import { UsagePage } from './pages/usage';
import { WorkersPage } from './pages/workers';
import { href, useRoute } from './router';
import { clearCredential, loadCredential, saveCredential, type Credential } from './session';
import './styles.css';

const NAV = [
  { path: '/', label: 'Overview' },
  { path: '/jobs', label: 'Jobs' },
  { path: '/workers', label: 'Workers' },
  { path: '/usage', label: 'Usage' },
  { path: '/schedules', label: 'Schedules' },
];

function App() {
  const [credential, setCredential] = useState<Credential | null>(loadCredential);
  const [oidc, setOidc] = useState<OidcSettings | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [ready, setReady] = useState(false);
  const route = useRoute();

  useEffect(() => onSignedOut(() => {
    setCredential(null);
    setNotice('The API no longer accepts your credential; sign in again.');
  }), []);

  useEffect(() => {
    (async () => {
      const res = await fetch('config.json');
      const config = res.ok ? ((await res.json()) as { oidc: OidcSettings | null }) : { oidc: null };
      setOidc(config.oidc);
      if (config.oidc) {
        try {
          const token = await finishOidcSignIn(config.oidc);
          if (token) {
            const c = await whoami(token, 'oidc');
            saveCredential(c);
            setCredential(c);
          }
        } catch (e) {
          setNotice((e as Error).message);
        }
      }
    })().catch((e) => setNotice(`The dashboard could not read its settings: ${(e as Error).message}`)).finally(() => setReady(true));
  }, []);

  if (!ready) return <p className="muted" role="status">Loading…</p>;
  if (!credential) return <SignInPage oidc={oidc} notice={notice} onSignedIn={(c) => { setNotice(null); setCredential(c); }} />;

  const [section = '', id] = route.path;
  const current = `/${section}`;
  let page;
  if (section === 'jobs' && id) page = <JobPage id={id} credential={credential} />;
  else if (section === 'jobs') page = <JobsPage route={route} />;
  else if (section === 'workers') page = <WorkersPage credential={credential} />;
  else if (section === 'usage') page = <UsagePage />;
  else if (section === 'schedules') page = <SchedulesPage credential={credential} />;
  else page = <OverviewPage />;

  return (
    <>
      <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <header className="top">
        <a className="brand" href={href('/')}>gpubatch</a>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.path}><a href={href(n.path)} aria-current={current === n.path ? 'page' : undefined}>{n.label}</a></li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span title={credential.roles.map((r) => `${r.role}@${r.project}`).join(', ')} data-testid="who">{credential.id}</span>
          <button type="button" onClick={() => { clearCredential(); setCredential(null); setNotice('Signed out.'); }}>Sign out</button>
        </div>
      </header>
      <main id="main" tabIndex={-1} key={route.path.join('/')}>{page}</main>
    </>
  );
}

createRoot(document.getElementById('root')!).render(<StrictMode><App /></StrictMode>);
