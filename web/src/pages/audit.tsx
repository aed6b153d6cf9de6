// The audit trail: filters and an NDJSON export.
import { useEffect, useState } from 'preact/hooks';
import { admin, q } from '../api';
import { Alert, Field, useAction, useSession, when } from '../ui';

interface Record_ {
  n: number;
  time: string;
  app?: string;
  env?: string;
  actor: { kind: string; id?: string };
  method: string;
  route: string;
  resource?: string;
  action?: string;
  status: number;
  latencyMs?: number;
  requestId?: string;
}

export function Audit() {
  const s = useSession();
  const [f, setF] = useState({ app: s.app, env: s.env, actor: '', resource: '', action: '', from: '', to: '' });
  const [items, setItems] = useState<Record_[]>([]);
  const [cursor, setCursor] = useState('');
  const [run, error] = useAction();
  const params = (extra: Record<string, string | number>) =>
    q({
      ...f,
      from: f.from ? new Date(f.from).toISOString() : '',
      to: f.to ? new Date(f.to).toISOString() : '',
      ...extra,
    });
  const load = (more = false) =>
    run(async () => {
      const page = await admin('GET', '/audit' + params({ limit: 50, cursor: more ? cursor : '' }));
      setItems(more ? [...items, ...page.items] : page.items);
      setCursor(page.cursor || '');
    });
  useEffect(() => {
    load();
  }, []);
  const exportAll = () =>
    run(async () => {
      const text = await admin<string>('GET', '/audit' + params({ format: 'ndjson', limit: 1000 }), undefined, true);
      const url = URL.createObjectURL(new Blob([text], { type: 'application/x-ndjson' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `audit-${new Date().toISOString().slice(0, 19)}.ndjson`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    });
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
  return (
    <section aria-labelledby="h-audit">
      <h1 id="h-audit">Audit trail</h1>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          load();
        }}
      >
        <Field label="App id" value={f.app} onInput={set('app')} />
        <Field label="Environment" value={f.env} onInput={set('env')} />
        <Field label="Actor (kind[:id])" value={f.actor} placeholder="admin" onInput={set('actor')} />
        <Field label="Resource" value={f.resource} onInput={set('resource')} />
        <Field label="Action" value={f.action} onInput={set('action')} />
        <Field label="From" type="datetime-local" value={f.from} onInput={set('from')} />
        <Field label="To" type="datetime-local" value={f.to} onInput={set('to')} />
        <button type="submit">Filter</button>
        <button type="button" class="secondary" onClick={exportAll}>
          Export NDJSON
        </button>
      </form>
      <Alert error={error} />
      {items.length === 0 ? (
        <p class="empty-state">No audit records match.</p>
      ) : (
        <table class="audit">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Actor</th>
              <th scope="col">Request</th>
              <th scope="col">Resource</th>
              <th scope="col">Action</th>
              <th scope="col">Status</th>
              <th scope="col">Latency</th>
            </tr>
          </thead>
          <tbody>
            {items.map((r) => (
              <tr>
                <td>{when(r.time)}</td>
                <td>
                  {r.actor.kind}
                  {r.actor.id && <small class="muted"> {r.actor.id}</small>}
                  {!r.actor.id?.includes('/') && r.env && <small class="muted"> in {[r.app, r.env].filter(Boolean).join('/')}</small>}
                </td>
                <td>
                  <code>
                    {r.method} {r.route}
                  </code>
                </td>
                <td>{r.resource}</td>
                <td>{r.action}</td>
                <td class={r.status >= 400 ? 'bad num' : 'num'}>{r.status}</td>
                <td class="num">{r.latencyMs !== undefined ? `${r.latencyMs.toFixed(1)} ms` : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor && (
        <button type="button" onClick={() => load(true)}>
          More
        </button>
      )}
    </section>
  );
}
