// Devices: the list with online state, a device's shadow (desired against
// reported, desired editable), commands and their status, and a telemetry
// chart. All through the environment's /v1 routes, reached with the admin
// token (.../environments/{env}/v1/...).
import { useEffect, useState } from 'preact/hooks';
import { Problem, q, v1 } from '../api';
import { Alert, Area, Field, Json, LineChart, NeedsEnv, Notice, parseJSON, Secret, useAction, useSession, when } from '../ui';


interface Device {
  id: string;
  name?: string;
  type?: string;
  online: boolean;
  disabled: boolean;
  lastSeenAt?: string;
  connections?: number;
}

export function Devices() {
  return (
    <section aria-labelledby="h-devices">
      <h1 id="h-devices">Devices</h1>
      <NeedsEnv>
        <DevicesBody />
      </NeedsEnv>
    </section>
  );
}

function DevicesBody() {
  const s = useSession();
  const [items, setItems] = useState<Device[]>([]);
  const [chosen, setChosen] = useState('');
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const [type, setType] = useState('');
  const [secret, setSecret] = useState<{ id: string; secret: string } | null>(null);
  const [run, error] = useAction();
  const load = async () => {
    const page = await v1(s, 'GET', '/devices' + q({ limit: 100 }));
    setItems(page.items);
    if (!chosen && page.items.length) setChosen(page.items[0].id);
  };
  useEffect(() => {
    run(load);
    const t = setInterval(() => load().catch(() => undefined), 5000);
    return () => clearInterval(t);
  }, []);
  return (
    <>
      <Alert error={error} />
      <div class="split">
        <div>
          <h2>All devices</h2>
          {items.length === 0 ? (
            <p class="empty-state">No devices yet.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Device</th>
                  <th scope="col">State</th>
                  <th scope="col">Last seen</th>
                </tr>
              </thead>
              <tbody>
                {items.map((d) => (
                  <tr class={d.id === chosen ? 'chosen' : ''}>
                    <td>
                      <button type="button" class="link" aria-pressed={d.id === chosen} onClick={() => setChosen(d.id)}>
                        {d.name || d.id}
                      </button>
                      {d.type && <small class="muted"> {d.type}</small>}
                    </td>
                    <td>
                      <span class={`badge ${d.disabled ? 'bad' : d.online ? 'ok' : ''}`}>{d.disabled ? 'disabled' : d.online ? 'online' : 'offline'}</span>
                    </td>
                    <td>{when(d.lastSeenAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <form
            class="card"
            onSubmit={(e) => {
              e.preventDefault();
              run(async () => {
                const out = await v1(s, 'POST', '/devices', { id, name: name || undefined, type: type || undefined });
                setSecret({ id: out.id, secret: out.secret });
                setChosen(out.id);
                setId('');
                setName('');
                setType('');
                await load();
              });
            }}
          >
            <h3>Register a device</h3>
            <Field label="Device id" value={id} onInput={(e) => setId(e.currentTarget.value)} required />
            <Field label="Device name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
            <Field label="Device type" value={type} onInput={(e) => setType(e.currentTarget.value)} />
            <button type="submit">Register</button>
            {secret && (
              <p role="status">
                MQTT secret of {secret.id} (shown once): <Secret value={secret.secret} label={`the MQTT secret of ${secret.id}`} />
              </p>
            )}
          </form>
        </div>
        <div>{chosen && <DeviceDetail key={chosen} id={chosen} />}</div>
      </div>
    </>
  );
}

function DeviceDetail({ id }: { id: string }) {
  return (
    <>
      <h2>{id}</h2>
      <Shadow id={id} />
      <Commands id={id} />
      <Telemetry id={id} />
    </>
  );
}

function Shadow({ id }: { id: string }) {
  const s = useSession();
  const [doc, setDoc] = useState<any>(null);
  const [desired, setDesired] = useState('');
  // The editor opens once the shadow is read, so a load never overwrites an edit.
  const [loaded, setLoaded] = useState(false);
  const [notice, setNotice] = useState('');
  const [run, error] = useAction();
  const path = `/devices/${encodeURIComponent(id)}/shadow`;
  const load = async () => {
    try {
      const d = await v1(s, 'GET', path);
      setDoc(d);
      setDesired(JSON.stringify(d.state?.desired ?? {}, null, 2));
    } catch (e) {
      if (e instanceof Problem && e.status === 404) {
        setDoc(null);
        setDesired('{}');
        return;
      }
      throw e;
    } finally {
      setLoaded(true);
    }
  };
  useEffect(() => {
    run(load);
  }, []);
  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        run(async () => {
          const d = await v1(s, 'PATCH', path, { state: { desired: parseJSON('desired', desired) ?? null } });
          setDoc(d);
          setNotice(`Shadow version ${d.version}.`);
        });
      }}
    >
      <h3>Shadow {doc && <small class="muted">version {doc.version}</small>}</h3>
      <Alert error={error} />
      <Notice text={notice} />
      <div class="cols">
        <Area label="Desired (JSON)" rows={8} value={desired} disabled={!loaded} onInput={(e) => setDesired(e.currentTarget.value)} />
        <div>
          <h4>Reported</h4>
          {doc?.state?.reported ? <Json value={doc.state.reported} /> : <p class="empty-state">Nothing reported yet.</p>}
          <h4>Delta</h4>
          {doc?.state?.delta ? <Json value={doc.state.delta} /> : <p class="empty-state">In sync.</p>}
        </div>
      </div>
      <button type="submit">Save desired state</button>
    </form>
  );
}

interface Command {
  id: string;
  name: string;
  status: string;
  createdAt: string;
  finishedAt?: string;
  result?: unknown;
}

function Commands({ id }: { id: string }) {
  const s = useSession();
  const [items, setItems] = useState<Command[]>([]);
  const [name, setName] = useState('');
  const [payload, setPayload] = useState('');
  const [timeout, setTimeoutSec] = useState('60');
  const [run, error] = useAction();
  const base = `/devices/${encodeURIComponent(id)}/commands`;
  const load = async () => setItems((await v1(s, 'GET', base + q({ limit: 10 }))).items);
  useEffect(() => {
    run(load);
    // Watch the status: queued → delivered → succeeded | failed | expired.
    const t = setInterval(() => load().catch(() => undefined), 2000);
    return () => clearInterval(t);
  }, []);
  return (
    <div class="card">
      <h3>Commands</h3>
      <Alert error={error} />
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          run(async () => {
            const body: any = { name, timeoutSec: Number(timeout) || undefined };
            const p = parseJSON('payload', payload);
            if (p !== undefined) body.payload = p;
            await v1(s, 'POST', base, body);
            setName('');
            await load();
          });
        }}
      >
        <Field label="Command name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
        <Field label="Payload (JSON)" value={payload} placeholder='{"level": 3}' onInput={(e) => setPayload(e.currentTarget.value)} />
        <Field label="Timeout (s)" type="number" min="1" value={timeout} onInput={(e) => setTimeoutSec(e.currentTarget.value)} />
        <button type="submit">Send command</button>
      </form>
      {items.length === 0 ? (
        <p class="empty-state">No commands yet.</p>
      ) : (
        <table aria-label="Commands">
          <thead>
            <tr>
              <th scope="col">Command</th>
              <th scope="col">Status</th>
              <th scope="col">Sent</th>
              <th scope="col">Result</th>
            </tr>
          </thead>
          <tbody>
            {items.map((c) => (
              <tr>
                <td>{c.name}</td>
                <td>
                  <span class={`badge cmd-status ${c.status === 'succeeded' ? 'ok' : c.status === 'failed' || c.status === 'expired' ? 'bad' : ''}`}>{c.status}</span>
                </td>
                <td>{when(c.createdAt)}</td>
                <td>
                  <code class="clip">{c.result === undefined ? '' : JSON.stringify(c.result)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Telemetry({ id }: { id: string }) {
  const s = useSession();
  const [stream, setStream] = useState('');
  const [minutes, setMinutes] = useState('60');
  const [items, setItems] = useState<{ time: string; stream?: string; data: any }[] | null>(null);
  const [missing, setMissing] = useState(false);
  const [run, error] = useAction();
  const load = () =>
    run(async () => {
      const to = new Date();
      const from = new Date(to.getTime() - (Number(minutes) || 60) * 60000);
      try {
        const page = await v1(s, 'GET', `/devices/${encodeURIComponent(id)}/telemetry` + q({ stream, from: from.toISOString(), to: to.toISOString(), limit: 500 }));
        setItems(page.items || []);
        setMissing(false);
      } catch (e) {
        if (e instanceof Problem && e.status === 404) {
          setItems([]);
          setMissing(true);
          return;
        }
        throw e;
      }
    });
  useEffect(() => {
    load();
  }, []);
  const points = (items || []).slice().sort((a, b) => a.time.localeCompare(b.time));
  const fields = Array.from(new Set(points.flatMap((p) => (p.data && typeof p.data === 'object' ? Object.keys(p.data).filter((k) => typeof p.data[k] === 'number') : []))));
  return (
    <div class="card telemetry" data-points={points.length}>
      <h3>Telemetry</h3>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          load();
        }}
      >
        <Field label="Stream" value={stream} placeholder="(all streams)" onInput={(e) => setStream(e.currentTarget.value)} />
        <Field label="Last minutes" type="number" min="1" value={minutes} onInput={(e) => setMinutes(e.currentTarget.value)} />
        <button type="submit">Show</button>
      </form>
      <Alert error={error} />
      {missing && <p class="empty-state">No telemetry for this device (the server has none, or does not keep telemetry).</p>}
      {!missing && items && points.length === 0 && <p class="empty-state">No telemetry in this window.</p>}
      {fields.length > 0 && (
        <LineChart
          title={`Telemetry of ${id}`}
          labels={points.map((p) => new Date(p.time).toLocaleTimeString())}
          series={fields.slice(0, 5).map((f) => ({ name: f, values: points.map((p) => Number(p.data?.[f] ?? NaN)) }))}
        />
      )}
    </div>
  );
}
