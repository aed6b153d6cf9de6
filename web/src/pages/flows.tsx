// Flows and deployments: versions, the diff between two, upload a bundle,
// promote, rollback, and a test run with each step's timing and result.
import { useEffect, useState } from 'preact/hooks';
import { Problem, admin, envPath, q } from '../api';
import { Alert, Area, Field, Json, NeedsEnv, Notice, Select, parseJSON, useAction, useSession, when } from '../ui';
import { diffLines } from '../diff';

interface Deployment {
  version: number;
  live: boolean;
  source: string;
  actor: string;
  createdAt: string;
  origin?: { env: string; version: number };
  changes: { added: { kind: string; name: string }[]; changed: { kind: string; name: string }[]; removed: { kind: string; name: string }[] };
  documents: { file: string; kind: string; name: string; digest: string }[];
  files?: Record<string, string>;
}

export function Flows() {
  return (
    <section aria-labelledby="h-flows">
      <h1 id="h-flows">Flows &amp; deployments</h1>
      <NeedsEnv>
        <FlowsBody />
      </NeedsEnv>
    </section>
  );
}

function FlowsBody() {
  const s = useSession();
  const [items, setItems] = useState<Deployment[]>([]);
  const [notice, setNotice] = useState('');
  const [run, error] = useAction();
  const load = () =>
    run(async () => {
      const out = await admin('GET', envPath(s.app, s.env, '/deployments') + q({ limit: 50 }));
      setItems(out.items);
    });
  useEffect(() => {
    load();
  }, []);
  const rollback = () =>
    run(async () => {
      const d = await admin('POST', envPath(s.app, s.env, '/rollback'));
      setNotice(`Rolled back: version ${d.version} is live.`);
      await load();
    });
  const live = items.find((d) => d.live);
  const flows = live ? live.documents.filter((d) => d.kind === 'Flow').map((d) => d.name) : [];
  return (
    <>
      <Alert error={error} />
      <Notice text={notice} />
      <div class="cols">
        <Upload
          onDeployed={(v) => {
            setNotice(`Deployed version ${v}.`);
            load();
          }}
        />
        <RunFlow flows={flows} />
      </div>
      <div class="card">
        <h2>Versions of {s.env}</h2>
        {items.length === 0 ? (
          <p class="empty-state">Nothing deployed yet.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Source</th>
                <th scope="col">Changes</th>
                <th scope="col">By</th>
                <th scope="col">When</th>
                <th scope="col">Promote</th>
              </tr>
            </thead>
            <tbody>
              {items.map((d) => (
                <tr class={d.live ? 'live' : ''}>
                  <td>
                    v{d.version} {d.live && <span class="badge ok">live</span>}
                  </td>
                  <td>
                    {d.source}
                    {d.origin && ` from ${d.origin.env} v${d.origin.version}`}
                  </td>
                  <td>{changeSummary(d)}</td>
                  <td>{d.actor}</td>
                  <td>{when(d.createdAt)}</td>
                  <td>
                    <Promote d={d} onDone={(t) => setNotice(t)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {items.length > 1 && (
          <button type="button" onClick={rollback}>
            Roll back to the previous version
          </button>
        )}
      </div>
      {items.length > 1 && <Diff items={items} />}
    </>
  );
}

// bundleFiles reads a deployment's files as {path: text}, from a map or a
// list of {file|path|name, content|text|yaml}.
function bundleFiles(files: unknown): Record<string, string> | null {
  if (!files) return null;
  if (Array.isArray(files)) {
    const out: Record<string, string> = {};
    for (const f of files as any[]) out[f.file ?? f.path ?? f.name] = f.content ?? f.text ?? f.yaml ?? '';
    return out;
  }
  return typeof files === 'object' ? (files as Record<string, string>) : null;
}

function changeSummary(d: Deployment): string {
  const c = d.changes;
  const part = (sign: string, l: { name: string }[]) => l.map((x) => sign + x.name);
  const all = [...part('+', c.added), ...part('~', c.changed), ...part('−', c.removed)];
  return all.length ? all.join(' ') : 'no changes';
}

function Upload({ onDeployed }: { onDeployed: (v: number) => void }) {
  const s = useSession();
  const [fileName, setFileName] = useState('flows/hello.yaml');
  const [text, setText] = useState('');
  const [picked, setPicked] = useState<Record<string, string>>({});
  const [run, error] = useAction();
  const pick = async (e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    const files: Record<string, string> = {};
    for (const f of Array.from(input.files || [])) files[(f as any).webkitRelativePath || f.name] = await f.text();
    setPicked(files);
  };
  const deploy = (e: Event) => {
    e.preventDefault();
    run(async () => {
      const files = { ...picked };
      if (text.trim()) files[fileName] = text;
      if (Object.keys(files).length === 0) throw new Problem(400, 'Nothing to deploy', 'choose bundle files or paste a YAML document');
      const d = await admin('POST', envPath(s.app, s.env, '/deployments'), { files });
      setText('');
      setPicked({});
      onDeployed(d.version);
    });
  };
  return (
    <form class="card" onSubmit={deploy}>
      <h2>Upload a bundle</h2>
      <Alert error={error} />
      <div class="field">
        <label for="bundle-files">Bundle files (YAML)</label>
        <input id="bundle-files" type="file" multiple accept=".yaml,.yml" onChange={pick} />
      </div>
      {Object.keys(picked).length > 0 && <p class="hint">{Object.keys(picked).join(', ')}</p>}
      <Field label="File name for pasted YAML" value={fileName} onInput={(e) => setFileName(e.currentTarget.value)} />
      <Area label="Or paste a YAML document" rows={8} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      <button type="submit">Deploy</button>
    </form>
  );
}

function Promote({ d, onDone }: { d: Deployment; onDone: (t: string) => void }) {
  const s = useSession();
  const envs = (s.apps.find((a) => a.id === s.app)?.environments || []).map((e) => e.name).filter((e) => e !== s.env);
  const [to, setTo] = useState(envs[0] || '');
  const [run, error] = useAction();
  return (
    <form
      class="inline"
      onSubmit={(e) => {
        e.preventDefault();
        run(async () => {
          const out = await admin('POST', envPath(s.app, s.env, `/deployments/${d.version}/promote`), { to });
          onDone(`Promoted v${d.version} to ${to} as its version ${out.version}.`);
        });
      }}
    >
      <Select label={`Promote v${d.version} to`} value={to} options={envs} onChange={(e) => setTo(e.currentTarget.value)} />
      <button type="submit" class="small">
        Promote
      </button>
      <Alert error={error} />
    </form>
  );
}

function Diff({ items }: { items: Deployment[] }) {
  const s = useSession();
  const [a, setA] = useState(String(items[1]?.version ?? ''));
  const [b, setB] = useState(String(items[0]?.version ?? ''));
  const [out, setOut] = useState<{ file: string; lines: { op: string; text: string }[] }[] | null>(null);
  const [run, error] = useAction();
  const versions = items.map((d) => [String(d.version), `v${d.version}`] as [string, string]);
  const fetchFiles = async (v: string): Promise<Record<string, string> | null> => {
    try {
      const d = await admin('GET', envPath(s.app, s.env, `/deployments/${v}`));
      return bundleFiles(d.files);
    } catch (e) {
      if (e instanceof Problem && (e.status === 404 || e.status === 405)) return null;
      throw e;
    }
  };
  const show = (e: Event) => {
    e.preventDefault();
    run(async () => {
      const [fa, fb] = await Promise.all([fetchFiles(a), fetchFiles(b)]);
      const da = items.find((d) => String(d.version) === a)!;
      const db = items.find((d) => String(d.version) === b)!;
      if (!fa || !fb) {
        // Without the files, say which documents differ by digest.
        const byFile = (d: Deployment) => Object.fromEntries(d.documents.map((x) => [x.file, x.digest]));
        const ma = byFile(da);
        const mb = byFile(db);
        const names = Array.from(new Set([...Object.keys(ma), ...Object.keys(mb)])).sort();
        setOut(
          names
            .filter((n) => ma[n] !== mb[n])
            .map((n) => ({ file: n, lines: [{ op: '~', text: !ma[n] ? 'added' : !mb[n] ? 'removed' : 'changed (this server does not serve bundle files)' }] })),
        );
        return;
      }
      const names = Array.from(new Set([...Object.keys(fa), ...Object.keys(fb)])).sort();
      setOut(names.filter((n) => fa[n] !== fb[n]).map((n) => ({ file: n, lines: diffLines(fa[n] || '', fb[n] || '') })));
    });
  };
  return (
    <div class="card">
      <h2>Diff between versions</h2>
      <form class="filters" onSubmit={show}>
        <Select label="From version" value={a} options={versions} onChange={(e) => setA(e.currentTarget.value)} />
        <Select label="To version" value={b} options={versions} onChange={(e) => setB(e.currentTarget.value)} />
        <button type="submit">Show diff</button>
      </form>
      <Alert error={error} />
      {out && out.length === 0 && <p class="empty-state">The two versions have the same files.</p>}
      {out &&
        out.map((f) => (
          <div class="diff">
            <h3>{f.file}</h3>
            <pre>
              {f.lines.map((l) => (
                <div class={l.op === '+' ? 'add' : l.op === '-' ? 'del' : l.op === '~' ? 'chg' : ''}>
                  {l.op} {l.text}
                </div>
              ))}
            </pre>
          </div>
        ))}
    </div>
  );
}

interface Step {
  id: string;
  kind: string;
  durationMs: number;
  attempts?: number;
  output?: unknown;
  error?: unknown;
  steps?: Step[];
}

function RunFlow({ flows }: { flows: string[] }) {
  const s = useSession();
  const [name, setName] = useState(flows[0] || '');
  const [input, setInput] = useState('{}');
  const [user, setUser] = useState('');
  const [result, setResult] = useState<any>(null);
  const [run, error] = useAction();
  useEffect(() => {
    if (!name && flows.length) setName(flows[0]);
  }, [flows.join(',')]);
  const go = (e: Event) => {
    e.preventDefault();
    run(async () => {
      setResult(null);
      const body: any = { input: parseJSON('input', input) || {} };
      if (user) body.user = user;
      setResult(await admin('POST', envPath(s.app, s.env, `/flows/${encodeURIComponent(name)}/test`), body));
    });
  };
  const rows = (steps: Step[] = [], depth = 0): preact.JSX.Element[] =>
    steps.flatMap((st) => [
      <tr>
        <td style={{ paddingLeft: `${0.5 + depth}em` }}>{st.id || '(unnamed)'}</td>
        <td>{st.kind}</td>
        <td class="num">{st.durationMs.toFixed(2)} ms</td>
        <td class="num">{st.attempts ?? ''}</td>
        <td>
          <code class="clip">{JSON.stringify(st.error ?? st.output ?? null)}</code>
        </td>
      </tr>,
      ...rows(st.steps, depth + 1),
    ]);
  return (
    <form class="card" onSubmit={go}>
      <h2>Run a flow</h2>
      <Alert error={error} />
      <Field label="Flow name" value={name} list="flow-names" onInput={(e) => setName(e.currentTarget.value)} required />
      <datalist id="flow-names">
        {flows.map((f) => (
          <option value={f} />
        ))}
      </datalist>
      <Area label="Input (JSON)" rows={4} value={input} onInput={(e) => setInput(e.currentTarget.value)} />
      <Field label="As user id (optional)" value={user} onInput={(e) => setUser(e.currentTarget.value)} />
      <button type="submit">Run</button>
      {result && (
        <div class="result" aria-live="polite">
          <p>
            Version {result.version}, {result.durationMs.toFixed(2)} ms{result.cache ? `, cache ${result.cache}` : ''}
            {result.error ? ' — failed' : ' — succeeded'}
          </p>
          <table aria-label="Steps">
            <thead>
              <tr>
                <th scope="col">Step</th>
                <th scope="col">Kind</th>
                <th scope="col">Time</th>
                <th scope="col">Attempts</th>
                <th scope="col">Result</th>
              </tr>
            </thead>
            <tbody>{rows(result.steps)}</tbody>
          </table>
          <h3>{result.error ? 'Problem' : 'Output'}</h3>
          <Json value={result.error ?? result.output} />
        </div>
      )}
    </form>
  );
}
