// Management API client for the dashboard: token in sessionStorage only,
// sent as "Authorization: Bearer"; errors surface as ApiError with the server's {"error"} text.

const KEY = 'endpointd.token';

export function getToken() { return sessionStorage.getItem(KEY) || ''; }
export function setToken(t) { sessionStorage.setItem(KEY, t); }
export function clearToken() { sessionStorage.removeItem(KEY); }

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function errorText(res) {
  const txt = await res.text().catch(() => '');
  try {
    const j = JSON.parse(txt);
    if (j && typeof j.error === 'string') return j.error;
    if (j && j.error && j.error.message) return j.error.message;
  } catch { /* not JSON */ }
  return txt.trim() || res.headers.get('X-Error-Message') || `HTTP ${res.status} ${res.statusText}`;
}

export function authHeaders(extra = {}) {
  const t = getToken();
  return t ? { Authorization: `Bearer ${t}`, ...extra } : { ...extra };
}

// Raw fetch with auth; throws ApiError on non-2xx.
export async function request(method, path, { body, headers, signal, raw } = {}) {
  const init = { method, headers: authHeaders(headers), signal };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  let res;
  try { res = await fetch(path, init); } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `Network error: ${e.message}`);
  }
  if (!res.ok) {
    const err = new ApiError(res.status, await errorText(res));
    if (res.status === 401 && onUnauthorized) onUnauthorized(err);
    throw err;
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const txt = await res.text();
  if (!txt) return null;
  try { return JSON.parse(txt); } catch { return txt; }
}

let onUnauthorized = null;
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

const seg = (s) => encodeURIComponent(s);
const epPath = (ns, name) => `/v2/endpoint/${seg(ns)}/${seg(name)}`;

export const whoami = () => request('GET', '/api/whoami-v2');
export const listEndpoints = (ns) => request('GET', `/v2/endpoint/${seg(ns)}`);
export const getEndpoint = (ns, name) => request('GET', epPath(ns, name));
export const createEndpoint = (ns, body) => request('POST', `/v2/endpoint/${seg(ns)}`, { body });
export const updateEndpoint = (ns, name, body) => request('PUT', epPath(ns, name), { body });
export const deleteEndpoint = (ns, name) => request('DELETE', epPath(ns, name));
export const action = (ns, name, verb) => request('POST', `${epPath(ns, name)}/${verb}`);
export const providers = () => request('GET', '/v2/provider');
export async function logs(ns, name, tail = 300) {
  const res = await request('GET', `${epPath(ns, name)}/logs?tail=${tail}`, { raw: true });
  return res.text();
}
export const events = (ns, name, limit = 80) => request('GET', `${epPath(ns, name)}/events?limit=${limit}`);
export async function metricsText() {
  const res = await request('GET', '/metrics', { raw: true });
  return res.text();
}

// Namespaces visible to the token: the user's own name first, then its orgs.
export function namespacesOf(me) {
  const out = [];
  if (me && me.name) out.push(me.name);
  for (const o of (me && me.orgs) || []) if (o && o.name && !out.includes(o.name)) out.push(o.name);
  return out;
}
