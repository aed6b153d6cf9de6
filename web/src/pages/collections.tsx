// Collections: settings (rules, schema, indexes, conflict strategy, cache)
// through the admin API, and their objects (query, create, edit, delete)
// through the environment's /v1 routes, reached with the admin token.
import { useEffect, useState } from 'preact/hooks';
import { admin, envPath, q, v1 } from '../api';
import { Alert, Area, Field, Json, NeedsEnv, Notice, Select, parseJSON, useAction, useSession, when } from '../ui';

interface Settings {
  name: string;
  rules: Record<string, string>;
  schema: unknown;
  indexes: { fields: string[]; unique?: boolean; name?: string }[];
  conflict: string;
  cache: { ttl: string };
  updatedAt?: string;
}

const conflicts = ['reject', 'server-wins', 'client-wins', 'last-write-wins', 'merge-fields'];
const ops = ['read', 'create', 'update', 'delete'];

export function Collections() {
  return (
    <section aria-labelledby="h-cols">
      <h1 id="h-cols">Collections</h1>
      <NeedsEnv>
        <CollectionsBody />
      </NeedsEnv>
    </section>
  );
}

function CollectionsBody() {
  const s = useSession();
  const [list, setList] = useState<Settings[]>([]);
  const [chosen, setChosen] = useState('');
  const [run, error] = useAction();
  const load = () =>
    run(async () => {
      const out = await admin('GET', envPath(s.app, s.env, '/collections'));
      setList(out.items);
      if (!chosen && out.items.length) setChosen(out.items[0].name);
    });
  useEffect(() => {
    load();
  }, []);
  const current = list.find((c) => c.name === chosen);
  return (
    <>
      <Alert error={error} />
      <div class="split">
        <div>
          <h2>All collections</h2>
          {list.length === 0 && <p class="empty-state">No collections yet.</p>}
          <ul class="picklist">
            {list.map((c) => (
              <li>
                <button type="button" class="link" aria-pressed={c.name === chosen} onClick={() => setChosen(c.name)}>
                  {c.name}
                </button>
              </li>
            ))}
          </ul>
          <NewCollection
            onCreated={(name) => {
              setChosen(name);
              load();
            }}
          />
        </div>
        <div>
          {current && <SettingsForm key={current.name} c={current} onSaved={load} />}
          {current && <Objects key={current.name} col={current.name} />}
        </div>
      </div>
    </>
  );
}

function NewCollection({ onCreated }: { onCreated: (name: string) => void }) {
  const s = useSession();
  const [name, setName] = useState('');
  const [run, error] = useAction();
  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        run(async () => {
          await admin('PUT', envPath(s.app, s.env, `/collections/${encodeURIComponent(name)}`), {});
          onCreated(name);
          setName('');
        });
      }}
    >
      <h3>New collection</h3>
      <Alert error={error} />
      <Field label="Collection name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      <button type="submit">Create collection</button>
    </form>
  );
}

function SettingsForm({ c, onSaved }: { c: Settings; onSaved: () => void }) {
  const s = useSession();
  const [rules, setRules] = useState<Record<string, string>>({ ...c.rules });
  const [conflict, setConflict] = useState(c.conflict);
  const [schema, setSchema] = useState(c.schema == null ? '' : JSON.stringify(c.schema, null, 2));
  const [indexes, setIndexes] = useState(JSON.stringify(c.indexes || [], null, 2));
  const [ttl, setTtl] = useState(c.cache?.ttl || '');
  const [notice, setNotice] = useState('');
  const [run, error] = useAction();
  const save = (e: Event) => {
    e.preventDefault();
    run(async () => {
      const body: any = { rules, conflict, indexes: parseJSON('indexes', indexes) || [], cache: { ttl: ttl || '0s' } };
      body.schema = schema.trim() === '' ? null : parseJSON('schema', schema);
      await admin('PUT', envPath(s.app, s.env, `/collections/${encodeURIComponent(c.name)}`), body);
      setNotice(`Saved the settings of ${c.name}.`);
      onSaved();
    });
  };
  return (
    <form class="card" onSubmit={save} aria-labelledby="h-settings">
      <h2 id="h-settings">Settings of {c.name}</h2>
      <Alert error={error} />
      <Notice text={notice} />
      <fieldset>
        <legend>Rules (public, authenticated, owner, role:NAME, server)</legend>
        <div class="grid4">
          {ops.map((op) => (
            <Field label={`${op} rule`} value={rules[op] || ''} onInput={(e) => setRules({ ...rules, [op]: e.currentTarget.value })} />
          ))}
        </div>
      </fieldset>
      <div class="cols">
        <Select label="Conflict strategy" value={conflict} options={conflicts} onChange={(e) => setConflict(e.currentTarget.value)} />
        <Field label="Cache TTL" value={ttl} placeholder="30s" onInput={(e) => setTtl(e.currentTarget.value)} />
      </div>
      <div class="cols">
        <Area label="JSON Schema" rows={6} value={schema} placeholder='{"type": "object"}' onInput={(e) => setSchema(e.currentTarget.value)} />
        <Area label="Indexes" rows={6} value={indexes} hint='[{"fields": ["n"], "unique": false}]' onInput={(e) => setIndexes(e.currentTarget.value)} />
      </div>
      <button type="submit">Save settings</button>
    </form>
  );
}

function Objects({ col }: { col: string }) {
  const s = useSession();
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState('');
  const [items, setItems] = useState<any[]>([]);
  const [cursor, setCursor] = useState('');
  const [editing, setEditing] = useState<any | null>(null);
  const [text, setText] = useState('{\n  \n}');
  const [notice, setNotice] = useState('');
  const [run, error] = useAction();
  const base = `/collections/${encodeURIComponent(col)}/objects`;
  const load = (more = false) =>
    run(async () => {
      const page = await v1(s, 'GET', base + q({ filter: filter.trim(), sort, limit: 25, cursor: more ? cursor : '' }));
      setItems(more ? [...items, ...page.items] : page.items);
      setCursor(page.cursor || '');
    });
  useEffect(() => {
    load();
  }, []);
  const strip = (o: any) => Object.fromEntries(Object.entries(o).filter(([k]) => !k.startsWith('_') || k === '_acl'));
  const save = (e: Event) => {
    e.preventDefault();
    run(async () => {
      const body = parseJSON('object', text) || {};
      if (editing) {
        await v1(s, 'PUT', `${base}/${encodeURIComponent(editing._id)}`, body);
        setNotice(`Saved ${editing._id}.`);
      } else {
        const out = await v1(s, 'POST', base, body);
        setNotice(`Created ${out._id}.`);
      }
      setEditing(null);
      setText('{\n  \n}');
      const page = await v1(s, 'GET', base + q({ filter: filter.trim(), sort, limit: 25 }));
      setItems(page.items);
      setCursor(page.cursor || '');
    });
  };
  const remove = (o: any) =>
    run(async () => {
      await v1(s, 'DELETE', `${base}/${encodeURIComponent(o._id)}`);
      setItems(items.filter((x) => x._id !== o._id));
      setNotice(`Deleted ${o._id}.`);
    });
  return (
    <div class="card" aria-labelledby="h-objects">
      <h2 id="h-objects">Objects of {col}</h2>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          load();
        }}
      >
        <Field label="Filter (JSON)" value={filter} placeholder='{"n": {"$gt": 1}}' onInput={(e) => setFilter(e.currentTarget.value)} />
        <Field label="Sort" value={sort} placeholder="-_updatedAt" onInput={(e) => setSort(e.currentTarget.value)} />
        <button type="submit">Query</button>
      </form>
      <Alert error={error} />
      <Notice text={notice} />
      {items.length === 0 ? (
        <p class="empty-state">No objects match.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Id</th>
              <th scope="col">Fields</th>
              <th scope="col">Version</th>
              <th scope="col">Updated</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {items.map((o) => (
              <tr>
                <td>
                  <code>{o._id}</code>
                </td>
                <td>
                  <code class="clip">{JSON.stringify(strip(o))}</code>
                </td>
                <td>{o._v}</td>
                <td>{when(o._updatedAt)}</td>
                <td>
                  <button
                    type="button"
                    class="small"
                    onClick={() => {
                      setEditing(o);
                      setText(JSON.stringify(strip(o), null, 2));
                    }}
                  >
                    Edit
                  </button>{' '}
                  <button type="button" class="small danger" onClick={() => remove(o)} aria-label={`Delete ${o._id}`}>
                    Delete
                  </button>
                </td>
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
      <form onSubmit={save}>
        <h3>{editing ? `Edit ${editing._id}` : 'New object'}</h3>
        <Area label="Object (JSON)" rows={6} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <button type="submit">{editing ? 'Save object' : 'Create object'}</button>{' '}
        {editing && (
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setEditing(null);
              setText('{\n  \n}');
            }}
          >
            Cancel
          </button>
        )}
      </form>
      {editing && <Json value={editing} />}
    </div>
  );
}
