// Client keys of the tenant's apps: create (the plaintext is shown once, with a copy
// button and a warning), revoke.
import { html, useState } from '../../vendor/preact-htm.js';
import { api, listAll } from '../api.js';
import { useForm, Field, FormError, Busy, Notice, Table, useLoad, Loading, when, CopyButton } from '../ui.js';
import { loadCatalog } from '../catalog.js';

export function ClientKeys({ canWrite }) {
  const [data, error, reload, loading] = useLoad(async () => {
    const [cat, keys] = await Promise.all([loadCatalog('apps'), listAll('/client-keys')]);
    return { cat, keys };
  }, []);
  const [created, setCreated] = useState(null);
  const [notice, setNotice] = useState('');
  const [failure, setFailure] = useState('');
  const form = useForm({ app_id: '', name: '' });
  async function submit(e) {
    e.preventDefault();
    const key = await form.submit((v) => api.post('/client-keys', v));
    if (key) { setCreated(key); setNotice(''); form.set('name', ''); reload(); }
  }
  async function revoke(k) {
    try {
      await api.del(`/client-keys/${k.id}`);
      setNotice(`Key ${k.name || k.prefix} revoked.`);
      setFailure('');
      reload();
    } catch (err) { setFailure(err.message); }
  }
  return html`<h1>Client keys</h1>
    <${Notice} text=${notice} />
    ${failure && html`<p class="error" role="alert">${failure}</p>`}
    ${created && html`<section class="card secret" aria-labelledby="new-key-h">
      <h2 id="new-key-h">New key for ${created.name || created.app_id}</h2>
      <p class="notice warn"><strong>Copy this key now.</strong> It is shown only once; the service keeps only its hash.</p>
      <div class="copy-row">
        <label for="new-key-value" class="sr-only">The new client key</label>
        <input id="new-key-value" readonly value=${created.key} />
        <${CopyButton} text=${created.key} label="Copy key" />
      </div>
      <button type="button" onClick=${() => setCreated(null)}>I have stored it</button>
    </section>`}
    <${Loading} data=${data} error=${error} loading=${loading}>${() => html`
      <${Table} label="Client keys" head=${['Name', 'App', 'Prefix', 'Created', 'Last used', 'Status', '']}>
        ${data.keys.map((k) => html`<tr>
          <td>${k.name || '—'}</td>
          <td>${(data.cat.appsById[k.app_id] || {}).name || k.app_id}</td>
          <td><code>${k.prefix}…</code></td>
          <td>${when(k.created_at)}</td>
          <td>${when(k.last_used_at)}</td>
          <td>${k.is_active ? 'active' : `revoked ${when(k.revoked_at)}`}</td>
          <td>${canWrite && k.is_active && html`<button type="button" onClick=${() => revoke(k)}>Revoke ${k.name || k.prefix}</button>`}</td>
        </tr>`)}
      <//>
      ${data.keys.length === 0 && html`<p>No client keys yet.</p>`}
      ${canWrite && html`<form class="card" onSubmit=${submit} aria-labelledby="new-ck-h">
        <h2 id="new-ck-h">Create a key</h2>
        <div class="row">
          <${Field} form=${form} prefix="ck-" name="app_id" label="App" type="select"
            options=${[['', 'Choose an app…'], ...data.cat.apps.map((a) => [a.id, a.name])]} />
          <${Field} form=${form} prefix="ck-" name="name" label="Name" />
        </div>
        <${FormError} form=${form} />
        <button type="submit" class="primary" disabled=${form.busy}>Create key</button>
        <${Busy} on=${form.busy} label="Creating…" />
      </form>`}
    `}<//>`;
}
