// The portal shell: sign-in, the navigation, the app environment picker,
// and a tiny history router under /admin/.
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { admin, onToken, setToken, token } from './api';
import { Alert, App, Session, SessionContext, Select } from './ui';
import { Login } from './pages/login';
import { Dashboard } from './pages/dashboard';
import { Apps } from './pages/apps';
import { Users } from './pages/users';
import { Collections } from './pages/collections';
import { Flows } from './pages/flows';
import { Config } from './pages/config';
import { Push } from './pages/push';
import { Devices } from './pages/devices';
import { Audit } from './pages/audit';
import './style.css';

const pages: { path: string; title: string; view: () => preact.JSX.Element }[] = [
  { path: 'dashboard', title: 'Dashboard', view: Dashboard },
  { path: 'apps', title: 'Apps & keys', view: Apps },
  { path: 'users', title: 'Users', view: Users },
  { path: 'collections', title: 'Collections', view: Collections },
  { path: 'flows', title: 'Flows & deployments', view: Flows },
  { path: 'config', title: 'Variables & secrets', view: Config },
  { path: 'push', title: 'Push', view: Push },
  { path: 'devices', title: 'Devices', view: Devices },
  { path: 'audit', title: 'Audit trail', view: Audit },
];

function currentPage(): string {
  const rest = location.pathname.replace(/^\/admin\/?/, '').split('/')[0];
  return pages.some((p) => p.path === rest) ? rest : 'dashboard';
}

const CHOICE = 'sb.choice';

function Shell() {
  const [signedIn, setSignedIn] = useState(!!token());
  const [page, setPage] = useState(currentPage());
  const [apps, setApps] = useState<App[]>([]);
  // Pages mount once the apps (and so the app keys) are known.
  const [loaded, setLoaded] = useState(false);
  const [loadError, setLoadError] = useState<unknown>(null);
  const saved = JSON.parse(sessionStorage.getItem(CHOICE) || '{}');
  const [app, setApp] = useState<string>(saved.app || '');
  const [env, setEnv] = useState<string>(saved.env || '');

  useEffect(() => onToken(() => setSignedIn(!!token())), []);
  useEffect(() => {
    const pop = () => setPage(currentPage());
    addEventListener('popstate', pop);
    return () => removeEventListener('popstate', pop);
  }, []);

  const reloadApps = async () => {
    const list = await admin<{ items: App[] }>('GET', '/apps');
    setApps(list.items);
    setLoaded(true);
    if (!list.items.some((a) => a.id === app) && list.items.length > 0) {
      choose(list.items[0].id, list.items[0].environments[0]?.name || '');
    }
  };
  useEffect(() => {
    if (signedIn) reloadApps().catch((e) => setLoadError(e));
  }, [signedIn]);

  const choose = (a: string, e: string) => {
    setApp(a);
    setEnv(e);
    sessionStorage.setItem(CHOICE, JSON.stringify({ app: a, env: e }));
  };
  const go = (path: string) => {
    history.pushState(null, '', `/admin/${path}`);
    setPage(currentPage());
    window.scrollTo(0, 0);
    document.getElementById('main')?.focus();
  };

  const current = apps.find((a) => a.id === app);
  const session: Session = useMemo(
    () => ({
      apps,
      app,
      env,
      choose,
      reloadApps,
      go,
    }),
    [apps, app, env],
  );

  useEffect(() => {
    const p = pages.find((x) => x.path === page);
    document.title = signedIn ? `${p?.title} · Skybridge admin` : 'Sign in · Skybridge admin';
  }, [page, signedIn]);

  if (!signedIn) {
    return <Login onSignedIn={() => setSignedIn(true)} />;
  }
  const View = pages.find((p) => p.path === page)!.view;
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Skybridge admin</span>
        <div class="picker" role="group" aria-label="App environment">
          <Select
            label="App"
            value={app}
            options={apps.length ? apps.map((a) => [a.id, a.name] as [string, string]) : [['', 'no apps yet']]}
            onChange={(e) => {
              const a = apps.find((x) => x.id === e.currentTarget.value);
              choose(e.currentTarget.value, a?.environments[0]?.name || '');
            }}
          />
          <Select
            label="Environment"
            value={env}
            options={current ? current.environments.map((e) => e.name) : ['']}
            onChange={(e) => choose(app, e.currentTarget.value)}
          />
        </div>
        <button type="button" class="link" onClick={() => setToken(null)}>
          Sign out
        </button>
      </header>
      <div class="layout">
        <nav aria-label="Pages">
          <ul>
            {pages.map((p) => (
              <li>
                <a
                  href={`/admin/${p.path}`}
                  aria-current={p.path === page ? 'page' : undefined}
                  onClick={(e) => {
                    if (e.metaKey || e.ctrlKey || e.shiftKey) return;
                    e.preventDefault();
                    go(p.path);
                  }}
                >
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>
          {loaded ? <View key={`${page}/${app}/${env}`} /> : <Alert error={loadError} />}
        </main>
      </div>
    </SessionContext.Provider>
  );
}

render(<Shell />, document.getElementById('app')!);
