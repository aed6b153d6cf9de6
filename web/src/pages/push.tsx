// Push: credentials (APNs, FCM), compose and send to topics, users or
// installations, and each sent notification's delivery status.
import { useEffect, useState } from 'preact/hooks';
import { admin, envPath, v1 } from '../api';
import { Alert, Area, Field, Json, NeedsEnv, Notice, parseJSON, useAction, useSession, when } from '../ui';

export function Push() {
  return (
    <section aria-labelledby="h-push">
      <h1 id="h-push">Push</h1>
      <NeedsEnv>
        <Compose />
        <Credentials />
      </NeedsEnv>
    </section>
  );
}

function Credentials() {
  const s = useSession();
  const [creds, setCreds] = useState<any>(null);
  const [apns, setApns] = useState({ bundleId: '', keyId: '', teamId: '', key: '', production: false });
  const [fcm, setFcm] = useState('');
  const [notice, setNotice] = useState('');
  const [run, error] = useAction();
  const load = async () => setCreds(await admin('GET', envPath(s.app, s.env, '/push')));
  useEffect(() => {
    run(load);
  }, []);
  const remove = (kind: string) =>
    run(async () => {
      await admin('DELETE', envPath(s.app, s.env, `/push/${kind}`));
      setNotice(`Removed the ${kind} credentials.`);
      await load();
    });
  return (
    <div class="card">
      <h2>Credentials of {s.env}</h2>
      <Alert error={error} />
      <Notice text={notice} />
      <dl class="facts">
        <dt>APNs</dt>
        <dd>
          {creds?.apns ? (
            <>
              {creds.apns.bundleId} (team {creds.apns.teamId}, key {creds.apns.keyId}, {creds.apns.production ? 'production' : 'sandbox'}), updated{' '}
              {when(creds.apns.updatedAt)}{' '}
              <button type="button" class="small danger" onClick={() => remove('apns')}>
                Remove APNs
              </button>
            </>
          ) : (
            'not configured'
          )}
        </dd>
        <dt>FCM</dt>
        <dd>
          {creds?.fcm ? (
            <>
              {creds.fcm.projectId} ({creds.fcm.clientEmail}), updated {when(creds.fcm.updatedAt)}{' '}
              <button type="button" class="small danger" onClick={() => remove('fcm')}>
                Remove FCM
              </button>
            </>
          ) : (
            'not configured'
          )}
        </dd>
      </dl>
      <details>
        <summary>Set or replace credentials</summary>
        <div class="cols">
          <form
            onSubmit={(e) => {
              e.preventDefault();
              run(async () => {
                await admin('PUT', envPath(s.app, s.env, '/push/apns'), apns);
                setNotice('Saved the APNs key.');
                await load();
              });
            }}
          >
            <h3>APNs token key</h3>
            <Field label="Bundle id" value={apns.bundleId} onInput={(e) => setApns({ ...apns, bundleId: e.currentTarget.value })} required />
            <Field label="Key id" value={apns.keyId} onInput={(e) => setApns({ ...apns, keyId: e.currentTarget.value })} required />
            <Field label="Team id" value={apns.teamId} onInput={(e) => setApns({ ...apns, teamId: e.currentTarget.value })} required />
            <Area label="Key (.p8 PEM)" rows={3} value={apns.key} onInput={(e) => setApns({ ...apns, key: e.currentTarget.value })} required />
            <div class="check">
              <input id="apns-prod" type="checkbox" checked={apns.production} onChange={(e) => setApns({ ...apns, production: e.currentTarget.checked })} />
              <label for="apns-prod">Production</label>
            </div>
            <button type="submit">Save APNs key</button>
          </form>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              run(async () => {
                await admin('PUT', envPath(s.app, s.env, '/push/fcm'), { serviceAccount: parseJSON('serviceAccount', fcm) });
                setNotice('Saved the FCM service account.');
                await load();
              });
            }}
          >
            <h3>FCM service account</h3>
            <Area label="Service account (JSON)" rows={8} value={fcm} onInput={(e) => setFcm(e.currentTarget.value)} required />
            <button type="submit">Save FCM account</button>
          </form>
        </div>
      </details>
    </div>
  );
}

const SENT = 'sb.sent';

function Compose() {
  const s = useSession();
  const storeKey = `${SENT}/${s.app}/${s.env}`;
  const [title, setTitle] = useState('');
  const [body, setBody] = useState('');
  const [topics, setTopics] = useState('');
  const [users, setUsers] = useState('');
  const [installs, setInstalls] = useState('');
  const [data, setData] = useState('');
  const [sent, setSent] = useState<string[]>(JSON.parse(sessionStorage.getItem(storeKey) || '[]'));
  const [status, setStatus] = useState<Record<string, any>>({});
  const [run, error] = useAction();
  const list = (t: string) => t.split(',').map((x) => x.trim()).filter(Boolean);
  const refresh = async (ids = sent) => {
    const out: Record<string, any> = {};
    await Promise.all(
      ids.map(async (id) => {
        try {
          out[id] = await v1(s, 'GET', `/push/notifications/${encodeURIComponent(id)}`);
        } catch (e) {
          out[id] = { id, status: 'unknown', reason: String(e) };
        }
      }),
    );
    setStatus(out);
  };
  useEffect(() => {
    refresh();
    const t = setInterval(() => refresh(), 3000);
    return () => clearInterval(t);
  }, [sent.join(',')]);
  const send = (e: Event) => {
    e.preventDefault();
    run(async () => {
      const target: any = {};
      if (list(topics).length) target.topics = list(topics);
      if (list(users).length) target.users = list(users);
      if (list(installs).length) target.installations = list(installs);
      const notification: any = { title, body };
      const d = parseJSON('data', data);
      if (d) notification.data = d;
      const out = await v1(s, 'POST', '/push/send', { target, notification });
      const ids = [out.id, ...sent].slice(0, 20);
      sessionStorage.setItem(storeKey, JSON.stringify(ids));
      setSent(ids);
    });
  };
  return (
    <div class="card">
      <h2>Compose and send</h2>
      <Alert error={error} />
      <form onSubmit={send}>
        <div class="cols">
          <div>
            <Field label="Title" value={title} onInput={(e) => setTitle(e.currentTarget.value)} required />
            <Area label="Body" rows={3} value={body} onInput={(e) => setBody(e.currentTarget.value)} />
            <Area label="Data (JSON, optional)" rows={3} value={data} onInput={(e) => setData(e.currentTarget.value)} />
          </div>
          <div>
            <Field label="Topics (comma separated)" value={topics} onInput={(e) => setTopics(e.currentTarget.value)} />
            <Field label="User ids (comma separated)" value={users} onInput={(e) => setUsers(e.currentTarget.value)} />
            <Field label="Installation ids (comma separated)" value={installs} onInput={(e) => setInstalls(e.currentTarget.value)} />
          </div>
        </div>
        <button type="submit">Send</button>
      </form>
      <h3>Delivery status</h3>
      {sent.length === 0 ? (
        <p class="empty-state">Nothing sent in this session.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Notification</th>
              <th scope="col">Status</th>
              <th scope="col">Targeted</th>
              <th scope="col">Sent</th>
              <th scope="col">Failed</th>
              <th scope="col">Queued</th>
            </tr>
          </thead>
          <tbody>
            {sent.map((id) => {
              const st = status[id];
              const failed = st?.counts?.failed ? Object.values(st.counts.failed as Record<string, number>).reduce((a, b) => a + b, 0) : 0;
              return (
                <tr>
                  <td>
                    <code>{id}</code>
                  </td>
                  <td>
                    {st?.status ?? '…'}
                    {st?.reason && <small class="muted"> {st.reason}</small>}
                  </td>
                  <td class="num">{st?.counts?.targeted ?? ''}</td>
                  <td class="num">{st?.counts?.sent ?? ''}</td>
                  <td class="num">{failed}</td>
                  <td>{when(st?.timing?.queuedAt)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {sent[0] && status[sent[0]] && (
        <details>
          <summary>Latest status document</summary>
          <Json value={status[sent[0]]} />
        </details>
      )}
    </div>
  );
}
