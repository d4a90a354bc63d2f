// The panel's shell: login, the platform admin's tenant picker, navigation and hash routes.
import { html, render, useState, useEffect, useRef } from '../vendor/preact-htm.js';
import { api, session, logout, onSessionEnd } from './api.js';
import { useForm, Field, FormError, Busy, useLoad } from './ui.js';
import { Overview } from './pages/overview.js';
import { AssistantPage } from './pages/assistant.js';
import { Providers } from './pages/providers.js';
import { Credentials } from './pages/credentials.js';
import { ClientKeys } from './pages/keys.js';
import { Tools } from './pages/tools.js';
import { Playground } from './pages/playground.js';
import { Usage } from './pages/usage.js';
import { Config } from './pages/config.js';
import { CodeProviders } from './pages/code.js';

const PAGES = [
  ['apps', 'Apps', Overview],
  ['providers', 'Providers', Providers],
  ['credentials', 'Credentials', Credentials],
  ['keys', 'Client keys', ClientKeys],
  ['tools', 'Tools', Tools],
  ['playground', 'Playground', Playground],
  ['usage', 'Usage & audit', Usage],
  ['config', 'Config', Config],
  ['code', 'Code providers', CodeProviders, 'platform'], // the API gives tenant roles 403
];

function parseHash() {
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query) };
}

function Login({ onLogin, reason }) {
  const form = useForm({ username: '', password: '' });
  async function submit(e) {
    e.preventDefault();
    const token = await form.submit((v) => api.post('/auth/login', v));
    if (token) {
      session.token = token.access_token;
      onLogin();
    }
  }
  return html`<main id="main" class="login">
    <h1>Assistants admin</h1>
    ${reason && html`<p class="notice warn" role="status">${reason}</p>`}
    <form onSubmit=${submit} aria-label="Log in">
      <${Field} form=${form} name="username" label="Username" autocomplete="username" required />
      <${Field} form=${form} name="password" label="Password" type="password" autocomplete="current-password" required />
      <${FormError} form=${form} />
      <button type="submit" class="primary" disabled=${form.busy}>Log in</button>
      <${Busy} on=${form.busy} label="Logging in…" />
    </form>
  </main>`;
}

function TenantPicker({ tenant, onPick }) {
  const [tenants, error, , loading] = useLoad(() => api.get('/tenants?limit=200', { tenant: null }), []);
  return html`<div class="tenant-picker">
    <label for="tenant-pick">Tenant</label>
    ${error ? html`<span class="error" role="alert">${error.message}</span>`
      : html`<select id="tenant-pick" value=${tenant || ''} onChange=${(e) => onPick(e.target.value)} disabled=${loading && !tenants}>
      <option value="">Choose a tenant…</option>
      ${(tenants ? tenants.items : []).map((t) => html`<option value=${t.id} selected=${t.id === tenant}>${t.name || t.id} (${t.id})</option>`)}
    </select>`}
  </div>`;
}

function Shell({ me, route, onLogout }) {
  const [tenant, setTenant] = useState(session.tenant || me.tenant_id);
  const main = useRef(null);
  const platform = me.role === 'platform_admin';
  const canWrite = me.role !== 'tenant_viewer';
  const pages = PAGES.filter((p) => !p[3] || platform);
  const [first] = route.parts;
  const pageKey = first || 'apps';
  useEffect(() => {
    document.title = `${labelOf(pageKey)} · Assistants admin`;
    // A new page (or just logged in): focus its content, so keyboard and screen-reader
    // users start there instead of at the top of the document.
    if (main.current) main.current.focus();
  }, [pageKey, route.parts[1]]);
  function pick(t) {
    session.tenant = t;
    setTenant(t);
  }
  let page;
  if (!tenant) {
    page = html`<h1>Choose a tenant</h1><p>As a platform admin, pick the tenant to manage from the list above.</p>`;
  } else if (first === 'assistants') {
    page = html`<${AssistantPage} key=${`${tenant}/${route.parts[1]}`} id=${route.parts[1]} query=${route.query} canWrite=${canWrite} />`;
  } else {
    const entry = pages.find(([k]) => k === pageKey) || pages[0];
    const Page = entry[2];
    page = html`<${Page} key=${`${tenant}/${entry[0]}`} canWrite=${canWrite} me=${me} query=${route.query} tenant=${tenant} />`;
  }
  return html`<div class="shell">
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); main.current && main.current.focus(); }}>Skip to content</a>
    <header class="top">
      <span class="brand">Assistants admin</span>
      ${platform && html`<${TenantPicker} tenant=${tenant} onPick=${pick} />`}
      <span class="who">${me.username} · ${me.role.replace('_', ' ')}${tenant && !platform ? ` · ${tenant}` : ''}</span>
      <button type="button" onClick=${onLogout}>Log out</button>
    </header>
    <nav aria-label="Sections">
      <ul>${pages.map(([k, label]) => html`<li><a href=${`#/${k}`} aria-current=${(pageKey === k || (k === 'apps' && pageKey === 'assistants')) ? 'page' : undefined}>${label}</a></li>`)}</ul>
    </nav>
    <main id="main" tabindex="-1" ref=${main}>${page}</main>
  </div>`;
}

function labelOf(key) {
  if (key === 'assistants') return 'Assistant';
  const entry = PAGES.find(([k]) => k === key);
  return entry ? entry[1] : 'Apps';
}

function App() {
  const [me, setMe] = useState(null);
  const [reason, setReason] = useState('');
  const [route, setRoute] = useState(parseHash());
  const [checking, setChecking] = useState(!!session.token);
  useEffect(() => {
    const onHash = () => setRoute(parseHash());
    window.addEventListener('hashchange', onHash);
    const off = onSessionEnd((why) => { setMe(null); setReason(why || ''); });
    return () => { window.removeEventListener('hashchange', onHash); off(); };
  }, []);
  async function loadMe() {
    setChecking(true);
    try {
      setMe(await api.get('/auth/me', { tenant: null }));
      setReason('');
    } catch (e) {
      if (e.status !== 401) setReason(`Could not load your account: ${e.message}`);
    } finally {
      setChecking(false);
    }
  }
  useEffect(() => { if (session.token) loadMe(); }, []);
  if (checking && !me) return html`<main id="main"><${Busy} on=${true} label="Loading…" /></main>`;
  if (!me) {
    document.title = 'Log in · Assistants admin';
    return html`<${Login} onLogin=${loadMe} reason=${reason} />`;
  }
  return html`<${Shell} me=${me} route=${route} onLogout=${() => logout('You are logged out.')} />`;
}

render(html`<${App} />`, document.getElementById('root'));
