// Apps and their assistants: provider, model, last change; switch an assistant's model
// (and so its provider) by choosing it from the list: it saves at once.
import { html, useState } from '../../vendor/preact-htm.js';
import { api } from '../api.js';
import { useForm, Field, FormError, Busy, Notice, Table, useLoad, Loading, when } from '../ui.js';
import { loadCatalog, modelLabel, modelOptions, providerLabel, credentialFor } from '../catalog.js';

function ModelSwitch({ cat, assistant, onSaved }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const id = `switch-${assistant.id}`;
  async function change(e) {
    const modelId = e.target.value;
    const credentialId = credentialFor(cat, modelId, assistant.credential_id);
    setError('');
    if (!credentialId) {
      // Saving would leave the assistant without a key for its new provider: refuse here.
      const p = cat.providersById[cat.modelsById[modelId].provider_id];
      setError(`Add a key for ${providerLabel(p)} first (Credentials); nothing was changed.`);
      e.target.value = assistant.model_id;
      return;
    }
    setBusy(true);
    try {
      const saved = await api.patch(`/assistants/${assistant.id}`, { model_id: modelId, credential_id: credentialId });
      onSaved(saved, `${assistant.name} now uses ${modelLabel(cat, cat.modelsById[modelId])}.`);
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  }
  return html`<div class="inline-field">
    <label for=${id} class="sr-only">Model of ${assistant.name}</label>
    <select id=${id} value=${assistant.model_id} onChange=${change} disabled=${busy}
      aria-invalid=${error ? 'true' : undefined} aria-describedby=${error ? `${id}-err` : undefined}>
      ${!cat.modelsById[assistant.model_id] && html`<option value=${assistant.model_id}>${assistant.model_id} (missing)</option>`}
      ${modelOptions(cat).map(([v, l]) => html`<option value=${v} selected=${v === assistant.model_id}>${l}</option>`)}
    </select>
    <${Busy} on=${busy} label="Saving…" />
    ${error && html`<p class="error" id=${`${id}-err`} role="alert">${error}</p>`}
  </div>`;
}

function NewApp({ onCreated }) {
  const form = useForm({ name: '', slug: '', description: '' });
  async function submit(e) {
    e.preventDefault();
    const app = await form.submit((v) => api.post('/apps', v));
    if (app) { form.setValues({ name: '', slug: '', description: '' }); onCreated(app); }
  }
  return html`<form class="card" onSubmit=${submit} aria-labelledby="new-app-h">
    <h2 id="new-app-h">New app</h2>
    <div class="row">
      <${Field} form=${form} prefix="app-" name="name" label="Name" required />
      <${Field} form=${form} prefix="app-" name="slug" label="Slug" hint="lower-case letters, digits and -" required />
    </div>
    <${Field} form=${form} prefix="app-" name="description" label="Description" />
    <${FormError} form=${form} />
    <button type="submit" class="primary" disabled=${form.busy}>Create app</button>
    <${Busy} on=${form.busy} />
  </form>`;
}

export function Overview({ canWrite }) {
  const [cat, error, reload, loading] = useLoad(() => loadCatalog('apps', 'assistants', 'providers', 'models', 'credentials'), []);
  const [notice, setNotice] = useState('');
  return html`<h1>Apps</h1>
    <${Notice} text=${notice} />
    <${Loading} data=${cat} error=${error} loading=${loading}>${() => html`
      ${cat.apps.length === 0 && html`<p>No apps yet.${canWrite ? ' Create one below.' : ''}</p>`}
      ${cat.apps.map((app) => {
        const list = cat.assistants.filter((a) => a.app_id === app.id);
        return html`<section class="card app" aria-labelledby=${`app-${app.id}`}>
          <div class="card-head">
            <h2 id=${`app-${app.id}`}>${app.name} <span class="muted">(${app.slug})</span>${!app.is_active && html` <span class="tag">inactive</span>`}</h2>
            ${canWrite && html`<a class="button" href=${`#/assistants/new?app=${encodeURIComponent(app.id)}`}>New assistant in ${app.name}</a>`}
          </div>
          ${app.description && html`<p>${app.description}</p>`}
          ${list.length === 0 ? html`<p class="muted">No assistants.</p>` : html`<${Table} label=${`Assistants of ${app.name}`} head=${['Assistant', 'Provider', 'Model', 'Last change']}>
            ${list.map((a) => {
              const m = cat.modelsById[a.model_id];
              const p = m && cat.providersById[m.provider_id];
              return html`<tr>
                <td><a href=${`#/assistants/${encodeURIComponent(a.id)}`}>${a.name}</a> <span class="muted">${a.slug}</span>${!a.is_active && html` <span class="tag">inactive</span>`}</td>
                <td>${p ? `${providerLabel(p)} (${p.kind})` : '—'}</td>
                <td>${canWrite ? html`<${ModelSwitch} cat=${cat} assistant=${a} onSaved=${(_, msg) => { setNotice(msg); reload(); }} />` : modelLabel(cat, m)}</td>
                <td>${when(a.updated_at)}</td>
              </tr>`;
            })}
          <//>`}
        </section>`;
      })}
      ${canWrite && html`<${NewApp} onCreated=${(app) => { setNotice(`App ${app.name} created.`); reload(); }} />`}
    `}<//>`;
}
