// The portal's only door to the server: the admin API with the admin token.
// An environment's /v1 routes (objects, devices, push) are reached through
// the admin API too (.../environments/{env}/v1/...), so the portal never
// holds an app's server key.

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

export function token(): string | null {
  return sessionStorage.getItem(TOKEN);
}

export function setToken(t: string | null) {
  if (t) sessionStorage.setItem(TOKEN, t);
  else sessionStorage.removeItem(TOKEN);
  for (const f of tokenListeners) f();
}

const tokenListeners = new Set<() => void>();
/** onToken calls f whenever the admin token changes (sign in, sign out, 401). */
export function onToken(f: () => void): () => void {
  tokenListeners.add(f);
  return () => tokenListeners.delete(f);
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

/** Env names one app environment. */
export interface Env {
  app: string;
  env: string;
}

/**
 * v1 calls one of the environment's /v1 routes (path after /v1) as its
 * trusted server, through the admin API with the admin token.
 */
export function v1<T = any>(where: Env, method: string, path: string, body?: unknown): Promise<T> {
  return admin<T>(method, envPath(where.app, where.env, `/v1${path}`), body);
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
