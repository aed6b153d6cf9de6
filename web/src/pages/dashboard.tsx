// The live dashboard: request velocity by route and app version, error
// rate, latency, cache hit ratio, connected devices and pushes sent,
// polled every 5 seconds.
import { useEffect, useState } from 'preact/hooks';
import { Problem, admin, envPath, q } from '../api';
import { Alert, LineChart, NeedsEnv, Select, useSession } from '../ui';

interface Totals {
  requests: number;
  errors: number;
  errorRate: number;
  p50Ms: number;
  p99Ms: number;
  cacheHits: number;
  cacheMisses: number;
  cacheHitRatio: number;
  connectedDevices: number;
  pushesSent: number;
}

interface Dash {
  from: string;
  to: string;
  totals: Totals;
  series: { t: string; requests: number; errors: number; p50Ms: number; p99Ms: number; cacheHits: number; cacheMisses: number; pushesSent: number }[];
  routes: { route: string; appVersion: string; requests: number; perMinute: number; errors: number; clientErrors?: number; p50Ms: number; p99Ms: number }[];
}

export function Dashboard() {
  return (
    <section aria-labelledby="h-dash">
      <h1 id="h-dash">Dashboard</h1>
      <NeedsEnv>
        <DashboardBody />
      </NeedsEnv>
    </section>
  );
}

const fmt = {
  n: (v?: number) => (v === undefined ? '—' : v.toLocaleString()),
  pct: (v?: number) => (v === undefined ? '—' : `${(v * 100).toFixed(1)} %`),
  ms: (v?: number) => (v === undefined ? '—' : `${v.toFixed(1)} ms`),
};

function DashboardBody() {
  const s = useSession();
  const [minutes, setMinutes] = useState('60');
  const [data, setData] = useState<Dash | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [missing, setMissing] = useState(false);
  const [updated, setUpdated] = useState('');
  useEffect(() => {
    let stop = false;
    const load = async () => {
      try {
        const d = await admin<Dash>('GET', envPath(s.app, s.env, '/dashboard') + q({ minutes }));
        if (stop) return;
        setData(d);
        setMissing(false);
        setError(null);
        setUpdated(new Date().toLocaleTimeString());
      } catch (e) {
        if (stop) return;
        if (e instanceof Problem && e.status === 404) setMissing(true);
        else setError(e);
      }
    };
    load();
    const t = setInterval(load, 5000);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [minutes]);
  const t = data?.totals;
  const labels = (data?.series || []).map((p) => new Date(p.t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  const tiles: [string, string][] = [
    ['Requests', fmt.n(t?.requests)],
    ['Error rate', fmt.pct(t?.errorRate)],
    ['p50 latency', fmt.ms(t?.p50Ms)],
    ['p99 latency', fmt.ms(t?.p99Ms)],
    ['Cache hit ratio', fmt.pct(t?.cacheHitRatio)],
    ['Connected devices', fmt.n(t?.connectedDevices)],
    ['Pushes sent', fmt.n(t?.pushesSent)],
  ];
  return (
    <>
      <div class="toolbar">
        <Select
          label="Window"
          value={minutes}
          options={[
            ['15', 'last 15 minutes'],
            ['60', 'last hour'],
            ['360', 'last 6 hours'],
            ['1440', 'last 24 hours'],
          ]}
          onChange={(e) => setMinutes(e.currentTarget.value)}
        />
        <p class="muted" aria-live="off">
          {updated ? `Live, updated ${updated}` : 'Loading…'}
        </p>
      </div>
      <Alert error={error} />
      {missing && <p class="empty-state">This server has no dashboard statistics for {s.env} yet.</p>}
      <ul class="tiles" aria-label="Totals">
        {tiles.map(([k, v]) => (
          <li class="tile">
            <span class="tile-label">{k}</span>
            <span class="tile-value">{v}</span>
          </li>
        ))}
      </ul>
      {data && (
        <div class="charts">
          <LineChart title="Requests per minute" labels={labels} series={[{ name: 'requests', values: data.series.map((p) => p.requests) }, { name: 'errors (5xx)', values: data.series.map((p) => p.errors) }]} />
          <LineChart title="Latency" unit=" ms" labels={labels} series={[{ name: 'p50', values: data.series.map((p) => p.p50Ms) }, { name: 'p99', values: data.series.map((p) => p.p99Ms) }]} />
          <LineChart
            title="Cache hit ratio"
            labels={labels}
            series={[{ name: 'hit ratio', values: data.series.map((p) => (p.cacheHits + p.cacheMisses ? p.cacheHits / (p.cacheHits + p.cacheMisses) : 0)) }]}
          />
          <LineChart title="Pushes sent per minute" labels={labels} series={[{ name: 'pushes', values: data.series.map((p) => p.pushesSent) }]} />
        </div>
      )}
      <h2>Velocity by route and app version</h2>
      {!data || data.routes.length === 0 ? (
        <p class="empty-state">No app traffic in this window.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Route</th>
              <th scope="col">App version</th>
              <th scope="col">Requests</th>
              <th scope="col">Per minute</th>
              <th scope="col">Errors (5xx)</th>
              <th scope="col">Client errors (4xx)</th>
              <th scope="col">p50</th>
              <th scope="col">p99</th>
            </tr>
          </thead>
          <tbody>
            {data.routes.map((r) => (
              <tr>
                <td>
                  <code>{r.route}</code>
                </td>
                <td>{r.appVersion || <span class="muted">(none)</span>}</td>
                <td class="num">{fmt.n(r.requests)}</td>
                <td class="num">{r.perMinute.toFixed(1)}</td>
                <td class="num">{fmt.n(r.errors)}</td>
                <td class="num">{fmt.n(r.clientErrors)}</td>
                <td class="num">{fmt.ms(r.p50Ms)}</td>
                <td class="num">{fmt.ms(r.p99Ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
