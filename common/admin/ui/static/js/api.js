// The admin API client: one fetch wrapper, the session (token in sessionStorage only,
// never localStorage or a cookie) and the one error type the forms understand.

// "/admin" under `make dev` (one port, a prefix per function); "" on a function's own URL.
export const BASE = location.pathname.replace(/\/ui(\/.*)?$/, '');
const TOKEN = 'admin.token';
const TENANT = 'admin.tenant';

export const session = {
  get token() { return sessionStorage.getItem(TOKEN); },
  set token(v) { v ? sessionStorage.setItem(TOKEN, v) : sessionStorage.removeItem(TOKEN); },
  get tenant() { return sessionStorage.getItem(TENANT); },
  set tenant(v) { v ? sessionStorage.setItem(TENANT, v) : sessionStorage.removeItem(TENANT); },
};

const listeners = new Set();
export function onSessionEnd(fn) { listeners.add(fn); return () => listeners.delete(fn); }
export function logout(reason) {
  session.token = null;
  session.tenant = null;
  listeners.forEach((fn) => fn(reason));
}

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `request failed (HTTP ${status})`);
    this.status = status;
    this.type = err.type || 'error';
    this.field = err.field || null;
    this.requestId = err.request_id || null;
  }
}

function headers(extra, tenant) {
  const h = { Accept: 'application/json', ...extra };
  if (session.token) h.Authorization = `Bearer ${session.token}`;
  const t = tenant === undefined ? session.tenant : tenant;
  if (t) h['X-Tenant-Id'] = t;
  return h;
}

// Every call returns parsed JSON (or text for YAML), throws ApiError, and ends the
// session on a 401 so the panel returns to the login page.
export async function request(method, path, { body, raw, contentType, tenant, accept } = {}) {
  const init = { method, headers: headers(accept ? { Accept: accept } : {}, tenant) };
  if (body !== undefined) {
    init.body = raw ? body : JSON.stringify(body);
    init.headers['Content-Type'] = contentType || 'application/json';
  }
  let resp;
  try {
    resp = await fetch(BASE + path, init);
  } catch (e) {
    throw new ApiError(0, { error: { message: 'network error: the admin API did not answer' } });
  }
  if (resp.status === 401 && path !== '/auth/login') {
    logout('Your session ended; please log in again.');
  }
  const type = resp.headers.get('content-type') || '';
  const data = resp.status === 204 ? null : type.includes('json') ? await resp.json() : await resp.text();
  if (!resp.ok) throw new ApiError(resp.status, typeof data === 'object' ? data : null);
  return data;
}

export const api = {
  get: (p, o) => request('GET', p, o),
  post: (p, body, o) => request('POST', p, { ...o, body }),
  patch: (p, body, o) => request('PATCH', p, { ...o, body }),
  del: (p, o) => request('DELETE', p, o),
};

// Every page of a list (the API caps a page at 200).
export async function listAll(path, max = 2000) {
  const out = [];
  let token = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api.get(`${path}${sep}limit=200${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
    out.push(...page.items);
    token = page.next_page_token;
  } while (token && out.length < max);
  return out;
}

// The playground's SSE stream, read with fetch (EventSource cannot send a bearer header).
export async function stream(path, body, onEvent, signal) {
  const resp = await fetch(BASE + path, {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
    body: JSON.stringify(body),
    signal,
  });
  if (resp.status === 401) logout('Your session ended; please log in again.');
  if (!resp.ok) {
    const type = resp.headers.get('content-type') || '';
    throw new ApiError(resp.status, type.includes('json') ? await resp.json() : null);
  }
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) name = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}
