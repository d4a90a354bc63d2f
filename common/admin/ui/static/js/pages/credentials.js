// Provider keys: add (the value is write-only: never shown again, the list shows last4),
// rotate (a new value, same id), deactivate.
import { html, useState } from '../../vendor/preact-htm.js';
import { api } from '../api.js';
import { useForm, Field, FormError, Busy, Notice, Table, useLoad, Loading } from '../ui.js';
import { loadCatalog, providerLabel } from '../catalog.js';

function NewCredential({ cat, onSaved }) {
  const form = useForm({ provider_id: cat.providers[0] ? cat.providers[0].id : '', name: '', value: '' });
  async function submit(e) {
    e.preventDefault();
    const saved = await form.submit((v) => api.post('/credentials', v));
    if (saved) { form.setValues((x) => ({ ...x, name: '', value: '' })); onSaved(saved); }
  }
  return html`<form class="card" onSubmit=${submit} aria-labelledby="new-cred-h">
    <h2 id="new-cred-h">Add a key</h2>
    <div class="row">
      <${Field} form=${form} prefix="cred-" name="provider_id" label="Provider" type="select"
        options=${cat.providers.map((p) => [p.id, `${providerLabel(p)} (${p.kind})`])} />
      <${Field} form=${form} prefix="cred-" name="name" label="Name" />
      <${Field} form=${form} prefix="cred-" name="value" label="API key" type="password" autocomplete="off" required
        hint="Write-only: stored in the secrets backend and never shown again." />
    </div>
    <${FormError} form=${form} />
    <button type="submit" class="primary" disabled=${form.busy}>Add key</button>
    <${Busy} on=${form.busy} label="Saving…" />
  </form>`;
}

function Rotate({ cred, onSaved }) {
  const form = useForm({ value: '' });
  async function submit(e) {
    e.preventDefault();
    const saved = await form.submit((v) => api.patch(`/credentials/${cred.id}`, v));
    if (saved) { form.setValues({ value: '' }); onSaved(saved); }
  }
  return html`<form class="inline-form" onSubmit=${submit} aria-label=${`Rotate ${cred.name || cred.id}`}>
    <${Field} form=${form} prefix=${`rot-${cred.id}-`} name="value" label=${`New value for ${cred.name || cred.id}`} type="password" autocomplete="off" required />
    <button type="submit" disabled=${form.busy}>Rotate</button>
    <${Busy} on=${form.busy} label="Rotating…" />
    <${FormError} form=${form} />
  </form>`;
}

export function Credentials({ canWrite }) {
  const [cat, error, reload, loading] = useLoad(() => loadCatalog('providers', 'credentials'), []);
  const [notice, setNotice] = useState('');
  const [failure, setFailure] = useState('');
  const [rotating, setRotating] = useState(null);
  const done = (msg) => { setNotice(msg); setFailure(''); setRotating(null); reload(); };
  async function toggle(c) {
    try {
      await api.patch(`/credentials/${c.id}`, { is_active: !c.is_active });
      done(`${c.name || c.id} ${c.is_active ? 'deactivated' : 'activated'}.`);
    } catch (e) { setFailure(e.message); }
  }
  return html`<h1>Credentials</h1>
    <${Notice} text=${notice} />
    ${failure && html`<p class="error" role="alert">${failure}</p>`}
    <${Loading} data=${cat} error=${error} loading=${loading}>${() => html`
      <${Table} label="Provider keys" head=${['Name', 'Provider', 'Key', 'Version', 'Status', '']}>
        ${cat.credentials.map((c) => html`<tr>
          <td>${c.name || c.id} <span class="muted">${c.id}</span></td>
          <td>${providerLabel(cat.providersById[c.provider_id])}</td>
          <td>${c.last4 ? `…${c.last4}` : '—'}</td>
          <td>${c.secret_version}</td>
          <td>${c.is_active ? 'active' : 'inactive'}</td>
          <td>${canWrite && html`<span class="actions">
            <button type="button" onClick=${() => setRotating(rotating === c.id ? null : c.id)} aria-expanded=${rotating === c.id ? 'true' : 'false'}>Rotate ${c.name || c.id}</button>
            <button type="button" onClick=${() => toggle(c)}>${c.is_active ? 'Deactivate' : 'Activate'} ${c.name || c.id}</button>
          </span>`}
          ${rotating === c.id && html`<${Rotate} cred=${c} onSaved=${(x) => done(`${x.name || x.id} rotated (now …${x.last4}).`)} />`}</td>
        </tr>`)}
      <//>
      ${cat.credentials.length === 0 && html`<p>No keys yet.</p>`}
      ${canWrite && (cat.providers.length ? html`<${NewCredential} cat=${cat} onSaved=${(x) => done(`Key ${x.name || x.id} added (…${x.last4}).`)} />`
        : html`<p>Add a provider first.</p>`)}
    `}<//>`;
}
