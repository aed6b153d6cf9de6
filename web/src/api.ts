// The portal's only door to the server: the admin API with the admin token,
// and /v1 with an environment's app and server keys.

/** Problem is an RFC 9457 problem answered by the API (or made up here for network failures). */
export class Problem extends Error {
  status: number;
  title: string;
  detail: string;
  errors: { field: string; detail: string }[];
  constructor(status: number, title: string, detail = '', errors: { field: string; detail: string }[] = []) {
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = errors;
  }
}

const TOKEN = 'sb.token';
const KEYS = 'sb.serverKeys';

export function token(): string | null {
  return sessionStorage.getItem(TOKEN);
}

export function setToken(t: string | null) {
  if (t) sessionStorage.setItem(TOKEN, t);
  else {
    // Signing out forgets the server keys this session saw, too.
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(KEYS);
  }
  for (const f of tokenListeners) f();
}

const tokenListeners = new Set<() => void>();
/** onToken calls f whenever the admin token changes (sign in, sign out, 401). */
export function onToken(f: () => void): () => void {
  tokenListeners.add(f);
  return () => tokenListeners.delete(f);
}

/** serverKey is the server key this session saw for app/env (shown by the API only at creation and rotation). */
export function serverKey(app: string, env: string): string {
  const all = JSON.parse(sessionStorage.getItem(KEYS) || '{}');
  return all[`${app}/${env}`] || '';
}

export function setServerKey(app: string, env: string, key: string) {
  const all = JSON.parse(sessionStorage.getItem(KEYS) || '{}');
  if (key) all[`${app}/${env}`] = key;
  else delete all[`${app}/${env}`];
  sessionStorage.setItem(KEYS, JSON.stringify(all));
}

async function toProblem(res: Response): Promise<Problem> {
  let body: any = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  if (body && typeof body.title === 'string') {
    // Field errors are {field, detail}; bundle errors {file, line, column, field?, message}.
    const errors = (Array.isArray(body.errors) ? body.errors : []).map((e: any) => ({
      field: e.file ? `${e.file}${e.line ? `:${e.line}:${e.column || 0}` : ''}${e.field ? ` ${e.field}` : ''}` : e.field || '',
      detail: e.detail || e.message || '',
    }));
    return new Problem(res.status, body.title, body.detail || '', errors);
  }
  return new Problem(res.status, res.statusText || `HTTP ${res.status}`, '');
}

async function send(url: string, init: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new Problem(0, 'Network error', String(e));
  }
  return res;
}

/** admin calls the admin API (path under /admin/api) and answers the decoded JSON (null for 204). */
export async function admin<T = any>(method: string, path: string, body?: unknown, raw = false): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await send(`/admin/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && path !== '/login') {
    setToken(null);
  }
  if (!res.ok) throw await toProblem(res);
  if (raw) return (await res.text()) as unknown as T;
  if (res.status === 204) return null as T;
  return res.json();
}

/** Keys are what /v1 needs for one environment. */
export interface Keys {
  appKey: string;
  serverKey: string;
}

/** v1 calls the app API as a trusted server of one environment. */
export async function v1<T = any>(keys: Keys, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', 'X-Skybridge-Key': keys.appKey };
  if (keys.serverKey) headers['X-Skybridge-Server-Key'] = keys.serverKey;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await send(`/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw await toProblem(res);
  if (res.status === 204) return null as T;
  return res.json();
}

/** envPath is the admin API path of an app environment. */
export function envPath(app: string, env: string, rest = ''): string {
  return `/apps/${encodeURIComponent(app)}/environments/${encodeURIComponent(env)}${rest}`;
}

/** q builds a query string from the non-empty values. */
export function q(params: Record<string, string | number | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}
