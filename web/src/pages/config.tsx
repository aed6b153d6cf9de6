// Flow variables (a JSON object) and write-only secrets of an environment.
import { useEffect, useState } from 'preact/hooks';
import { admin, envPath } from '../api';
import { Alert, Area, Field, NeedsEnv, Notice, parseJSON, useAction, useSession, when } from '../ui';

export function Config() {
  return (
    <section aria-labelledby="h-config">
      <h1 id="h-config">Variables &amp; secrets</h1>
      <NeedsEnv>
        <div class="cols">
          <Variables />
          <Secrets />
        </div>
      </NeedsEnv>
    </section>
  );
}

function Variables() {
  const s = useSession();
  const [text, setText] = useState('{}');
  const [loaded, setLoaded] = useState(false);
  const [notice, setNotice] = useState('');
  const [run, error] = useAction();
  useEffect(() => {
    run(async () => {
      try {
        setText(JSON.stringify((await admin('GET', envPath(s.app, s.env, '/variables'))) || {}, null, 2));
      } finally {
        setLoaded(true);
      }
    });
  }, []);
  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        run(async () => {
          const out = await admin('PUT', envPath(s.app, s.env, '/variables'), parseJSON('variables', text) || {});
          setText(JSON.stringify(out || {}, null, 2));
          setNotice('Saved the variables; the live version was rebuilt with them.');
        });
      }}
    >
      <h2>Variables of {s.env}</h2>
      <Alert error={error} />
      <Notice text={notice} />
      <Area label="Variables (JSON object)" rows={12} value={text} disabled={!loaded} onInput={(e) => setText(e.currentTarget.value)} />
      <button type="submit">Save variables</button>
    </form>
  );
}

function Secrets() {
  const s = useSession();
  const [items, setItems] = useState<{ name: string; updatedAt: string }[]>([]);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [notice, setNotice] = useState('');
  const [run, error] = useAction();
  const load = async () => setItems((await admin('GET', envPath(s.app, s.env, '/secrets'))).items);
  useEffect(() => {
    run(load);
  }, []);
  return (
    <div class="card">
      <h2>Secrets of {s.env}</h2>
      <p class="hint">Write-only: values are sealed at rest and never shown again.</p>
      <Alert error={error} />
      <Notice text={notice} />
      {items.length === 0 ? (
        <p class="empty-state">No secrets.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Updated</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {items.map((x) => (
              <tr>
                <td>
                  <code>{x.name}</code>
                </td>
                <td>{when(x.updatedAt)}</td>
                <td>
                  <button
                    type="button"
                    class="small danger"
                    aria-label={`Delete secret ${x.name}`}
                    onClick={() =>
                      run(async () => {
                        await admin('DELETE', envPath(s.app, s.env, `/secrets/${encodeURIComponent(x.name)}`));
                        setNotice(`Deleted ${x.name}.`);
                        await load();
                      })
                    }
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          run(async () => {
            await admin('PUT', envPath(s.app, s.env, `/secrets/${encodeURIComponent(name)}`), { value });
            setNotice(`Set ${name}.`);
            setName('');
            setValue('');
            await load();
          });
        }}
      >
        <h3>Set a secret</h3>
        <Field label="Secret name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
        <Field label="Secret value" type="password" autocomplete="off" value={value} onInput={(e) => setValue(e.currentTarget.value)} required />
        <button type="submit">Set secret</button>
      </form>
    </div>
  );
}
