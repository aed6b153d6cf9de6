// Apps and environments with their keys: create, copy, rotate.
import { useState } from 'preact/hooks';
import { admin, envPath, onToken } from '../api';
import { Alert, Field, Notice, Secret, Select, useAction, useSession, when } from '../ui';

interface Shown {
  app: string;
  env: string;
  appKey?: string;
  serverKey?: string;
}

// The keys just created and the last notice outlive a remount of the page
// (choosing the new app remounts it), in memory only: never stored.
let lastShown: Shown[] = [];
let lastNotice = '';
onToken(() => {
  lastShown = [];
  lastNotice = '';
});

export function Apps() {
  const s = useSession();
  const [name, setName] = useState('');
  const [newEnv, setNewEnv] = useState('');
  const [shown, setShownState] = useState<Shown[]>(lastShown);
  const setShown = (l: Shown[]) => {
    lastShown = l;
    setShownState(l);
  };
  const [grace, setGrace] = useState('0');
  const [which, setWhich] = useState('server');
  const [notice, setNoticeState] = useState(lastNotice);
  const setNotice = (t: string) => {
    lastNotice = t;
    setNoticeState(t);
  };
  const [run, error] = useAction();

  // The portal itself never needs a server key (it reaches /v1 through
  // the admin API); they are only shown here, once, to copy.
  const remember = (_app: string, list: Shown[]) => setShown(list);

  const create = (e: Event) => {
    e.preventDefault();
    run(async () => {
      const app = await admin('POST', '/apps', { name });
      remember(
        app.id,
        app.environments.map((x: any) => ({ app: app.id, env: x.name, appKey: x.appKey, serverKey: x.serverKey })),
      );
      setName('');
      await s.reloadApps();
      s.choose(app.id, app.environments[0]?.name || '');
      setNotice(`Created ${app.name}. Copy the server keys now: they are not shown again.`);
    });
  };
  const addEnv = (e: Event) => {
    e.preventDefault();
    run(async () => {
      const x = await admin('POST', `/apps/${encodeURIComponent(s.app)}/environments`, { name: newEnv });
      remember(s.app, [{ app: s.app, env: x.name, appKey: x.appKey, serverKey: x.serverKey }]);
      setNewEnv('');
      await s.reloadApps();
      setNotice(`Added environment ${x.name}.`);
    });
  };
  const rotate = (e: Event) => {
    e.preventDefault();
    run(async () => {
      const r = await admin('POST', envPath(s.app, s.env, '/keys/rotate'), { key: which, graceSeconds: Number(grace) || 0 });
      remember(s.app, [{ app: s.app, env: s.env, appKey: r.appKey, serverKey: r.serverKey }]);
      await s.reloadApps();
      setNotice(`Rotated the ${which} key of ${s.env}; the old one works until ${when(r.previousValidUntil)}.`);
    });
  };

  const current = s.apps.find((a) => a.id === s.app);
  return (
    <section aria-labelledby="h-apps">
      <h1 id="h-apps">Apps &amp; keys</h1>
      <Alert error={error} />
      <Notice text={notice} />
      {shown.length > 0 && (
        <div class="card keys-once" aria-label="New keys">
          <h2>New keys (shown once)</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Environment</th>
                <th scope="col">App key</th>
                <th scope="col">Server key</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((k) => (
                <tr>
                  <td>{k.env}</td>
                  <td>{k.appKey && <Secret value={k.appKey} label={`the app key of ${k.env}`} kind="app-key" />}</td>
                  <td>{k.serverKey && <Secret value={k.serverKey} label={`the server key of ${k.env}`} kind="server-key" />}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div class="cols">
        <form class="card" onSubmit={create}>
          <h2>Create an app</h2>
          <p class="hint">An app gets dev, stage and prod environments, each with an app key and a server key.</p>
          <Field label="App name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
          <button type="submit">Create app</button>
        </form>
        {current && (
          <form class="card" onSubmit={rotate}>
            <h2>Rotate a key of {s.env}</h2>
            <Select label="Key" value={which} options={[['server', 'Server key'], ['app', 'App key']]} onChange={(e) => setWhich(e.currentTarget.value)} />
            <Field label="Grace (seconds the old key keeps working)" type="number" min="0" value={grace} onInput={(e) => setGrace(e.currentTarget.value)} />
            <button type="submit">Rotate</button>
          </form>
        )}
      </div>
      <h2>Apps</h2>
      {s.apps.length === 0 && <p class="empty-state">No apps yet.</p>}
      {s.apps.map((a) => (
        <div class="card">
          <h3>
            {a.name} <small class="muted">{a.id}</small>
          </h3>
          <table>
            <thead>
              <tr>
                <th scope="col">Environment</th>
                <th scope="col">App key</th>
                <th scope="col">Server key</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {a.environments.map((e) => (
                <tr>
                  <td>
                    <button type="button" class="link" onClick={() => s.choose(a.id, e.name)} aria-label={`Choose ${a.name} ${e.name}`}>
                      {e.name}
                    </button>
                  </td>
                  <td>
                    <Secret value={e.appKey} label={`the app key of ${a.name} ${e.name}`} kind="app-key" />
                  </td>
                  <td class="muted">shown only at creation and rotation</td>
                  <td>{when(e.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {a.id === s.app && (
            <form class="inline" onSubmit={addEnv}>
              <Field label="New environment" value={newEnv} placeholder="qa" onInput={(e) => setNewEnv(e.currentTarget.value)} required />
              <button type="submit">Add environment</button>
            </form>
          )}
        </div>
      ))}
    </section>
  );
}
