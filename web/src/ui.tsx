// Small building blocks every page uses: labelled fields, the problem
// alert, copy buttons, a line chart, and the selected app environment.
import { ComponentChildren, createContext, JSX } from 'preact';
import { useContext, useState } from 'preact/hooks';
import { Problem } from './api';

/** App is an app as the admin API lists it. */
export interface App {
  id: string;
  name: string;
  environments: { name: string; appKey: string; createdAt: string }[];
}

/** Session is what every page shares: the apps and the chosen app environment. */
export interface Session {
  apps: App[];
  app: string;
  env: string;
  choose(app: string, env: string): void;
  reloadApps(): Promise<void>;
  go(path: string): void;
}

export const SessionContext = createContext<Session>(null as unknown as Session);

export function useSession(): Session {
  return useContext(SessionContext);
}

/** useAction runs one async action at a time and keeps its problem for <Alert>. */
export function useAction(): [(f: () => Promise<void>) => Promise<void>, unknown, boolean, (e: unknown) => void] {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (f: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await f();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return [run, error, busy, setError];
}

/** Alert shows a problem's title and detail (and field errors) in a role="alert" region. */
export function Alert({ error }: { error: unknown }) {
  let body: ComponentChildren = null;
  if (error instanceof Problem) {
    body = (
      <div class="problem">
        <strong class="problem-title">{error.title}</strong>
        {error.detail && <span class="problem-detail"> — {error.detail}</span>}
        {error.errors.length > 0 && (
          <ul>
            {error.errors.map((e) => (
              <li>
                <code>{e.field}</code>: {e.detail}
              </li>
            ))}
          </ul>
        )}
      </div>
    );
  } else if (error) {
    body = (
      <div class="problem">
        <strong class="problem-title">Error</strong> <span class="problem-detail">{String(error)}</span>
      </div>
    );
  }
  return (
    <div role="alert" class={body ? 'alert' : 'alert empty'}>
      {body}
    </div>
  );
}

/** Notice is a polite status message (saved, sent ...). */
export function Notice({ text }: { text: string }) {
  return (
    <p role="status" class={text ? 'notice' : 'notice empty'}>
      {text}
    </p>
  );
}

let ids = 0;
function useId(prefix: string) {
  const [id] = useState(() => `${prefix}-${++ids}`);
  return id;
}

type InputProps = JSX.InputHTMLAttributes<HTMLInputElement> & { label: string; hint?: string };

/** Field is an input with its label (and optional hint). */
export function Field({ label, hint, ...props }: InputProps) {
  const id = useId('f');
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} aria-describedby={hint ? `${id}-h` : undefined} {...props} />
      {hint && (
        <small id={`${id}-h`} class="hint">
          {hint}
        </small>
      )}
    </div>
  );
}

/** Area is a textarea with its label. */
export function Area({ label, hint, ...props }: JSX.TextareaHTMLAttributes<HTMLTextAreaElement> & { label: string; hint?: string }) {
  const id = useId('a');
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <textarea id={id} spellcheck={false} aria-describedby={hint ? `${id}-h` : undefined} {...props} />
      {hint && (
        <small id={`${id}-h`} class="hint">
          {hint}
        </small>
      )}
    </div>
  );
}

/** Select is a select with its label; options are values or [value, text] pairs. */
export function Select({
  label,
  options,
  ...props
}: JSX.SelectHTMLAttributes<HTMLSelectElement> & { label: string; options: (string | [string, string])[] }) {
  const id = useId('s');
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} {...props}>
        {options.map((o) => {
          const [v, t] = typeof o === 'string' ? [o, o] : o;
          return <option value={v}>{t}</option>;
        })}
      </select>
    </div>
  );
}

/** Copy is a button that copies text to the clipboard and says so. */
export function Copy({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setDone(true);
      setTimeout(() => setDone(false), 2000);
    } catch {
      window.prompt('Copy this value', text);
    }
  };
  return (
    <button type="button" class="small" onClick={copy} aria-label={label}>
      {done ? 'Copied' : 'Copy'}
    </button>
  );
}

/** masked is how a hidden key shows: its prefix (sbs_, sba_ ...) and dots, never its characters. */
export function masked(value: string): string {
  const m = /^[a-z]{2,5}_/.exec(value);
  return `${m ? m[0] : ''}••••••••`;
}

/**
 * Secret shows a key or secret masked, with a button that reveals it and
 * one that copies it: as a console does, so a glance or a screenshot does
 * not leak it. The element carries data-secret.
 */
export function Secret({ value, label, kind = 'secret' }: { value: string; label: string; kind?: string }) {
  const [shown, setShown] = useState(false);
  return (
    <span class="key">
      <code class="secret" data-secret={kind}>
        {shown ? value : masked(value)}
      </code>
      <button type="button" class="small" aria-pressed={shown} aria-label={`${shown ? 'Hide' : 'Show'} ${label}`} onClick={() => setShown(!shown)}>
        {shown ? 'Hide' : 'Show'}
      </button>
      <Copy text={value} label={`Copy ${label}`} />
    </span>
  );
}

/** Json pretty-prints a value. */
export function Json({ value }: { value: unknown }) {
  return <pre class="json">{JSON.stringify(value, null, 2)}</pre>;
}

/** parseJSON parses a form field as JSON, naming the field when it is not. */
export function parseJSON(field: string, text: string): any {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Problem(400, 'Invalid JSON', `${field}: ${(e as Error).message}`);
  }
}

/** when formats an RFC 3339 time for a table. */
export function when(t?: string): string {
  if (!t) return '';
  const d = new Date(t);
  return isNaN(d.getTime()) ? t : d.toLocaleString();
}

/** Series is one line of a chart. */
export interface Series {
  name: string;
  values: number[];
}

const colors = ['#1f5fbf', '#c2410c', '#15803d', '#7e22ce', '#b91c1c'];

/** LineChart draws series over shared x labels as a small SVG, with a legend and an accessible summary. */
export function LineChart({ title, labels, series, unit = '' }: { title: string; labels: string[]; series: Series[]; unit?: string }) {
  const w = 560;
  const hgt = 180;
  const pad = { l: 44, r: 8, t: 8, b: 22 };
  const n = Math.max(labels.length, 1);
  const max = Math.max(1e-9, ...series.flatMap((s) => s.values.filter((v) => Number.isFinite(v))));
  const x = (i: number) => pad.l + (n === 1 ? 0 : (i * (w - pad.l - pad.r)) / (n - 1));
  const y = (v: number) => pad.t + (hgt - pad.t - pad.b) * (1 - v / max);
  const fmt = (v: number) => (max >= 100 ? v.toFixed(0) : max >= 10 ? v.toFixed(1) : v.toFixed(2));
  const summary = series.map((s) => `${s.name}: last ${fmt(s.values[s.values.length - 1] ?? 0)}${unit}, max ${fmt(Math.max(0, ...s.values))}${unit}`).join('; ');
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${w} ${hgt}`} role="img" aria-label={`${title}. ${summary}`}>
        {[0, 0.5, 1].map((f) => (
          <g>
            <line x1={pad.l} x2={w - pad.r} y1={y(max * f)} y2={y(max * f)} class="grid" />
            <text x={pad.l - 4} y={y(max * f) + 4} text-anchor="end" class="axis">
              {fmt(max * f)}
            </text>
          </g>
        ))}
        {labels.length > 0 && (
          <g>
            <text x={pad.l} y={hgt - 4} class="axis">
              {labels[0]}
            </text>
            <text x={w - pad.r} y={hgt - 4} text-anchor="end" class="axis">
              {labels[labels.length - 1]}
            </text>
          </g>
        )}
        {series.map((s, k) => (
          <polyline
            fill="none"
            stroke={colors[k % colors.length]}
            stroke-width="2"
            points={s.values.map((v, i) => `${x(i).toFixed(1)},${y(Number.isFinite(v) ? v : 0).toFixed(1)}`).join(' ')}
          />
        ))}
      </svg>
      <ul class="legend">
        {series.map((s, k) => (
          <li>
            <span class="swatch" style={{ background: colors[k % colors.length] }} /> {s.name}
          </li>
        ))}
      </ul>
    </figure>
  );
}

/** NeedsEnv renders children only once an app environment is chosen. */
export function NeedsEnv({ children }: { children: ComponentChildren }) {
  const s = useSession();
  if (!s.app || !s.env) {
    return (
      <p class="empty-state">
        Choose an app and environment above (or <a href="/admin/apps">create an app</a>) first.
      </p>
    );
  }
  return <>{children}</>;
}
