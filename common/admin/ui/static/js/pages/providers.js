// Providers and their models: list, add, edit, deactivate; "test" a provider with one of
// its keys and see the latency or the error.
import { html, useState } from '../../vendor/preact-htm.js';
import { api } from '../api.js';
import { useForm, Field, FormError, Busy, Notice, Table, useLoad, Loading } from '../ui.js';
import { loadCatalog, credentialOptions, providerLabel } from '../catalog.js';

const KINDS = [['openai', 'OpenAI'], ['cohere', 'Cohere'], ['gemini', 'Gemini'], ['openai_compatible', 'OpenAI-compatible']];

function ProviderForm({ provider, onSaved, onCancel }) {
  const p = provider || {};
  const form = useForm({
    kind: p.kind || 'openai', name: p.name || '', display_name: p.display_name || '', base_url: p.base_url || '',
  });
  const pre = provider ? `prov-${provider.id}-` : 'prov-new-';
  async function submit(e) {
    e.preventDefault();
    const body = { ...form.values, base_url: form.values.base_url || null };
    if (provider) delete body.kind;
    const saved = await form.submit(() => (provider ? api.patch(`/providers/${provider.id}`, body) : api.post('/providers', body)));
    if (saved) onSaved(saved);
  }
  return html`<form class=${provider ? 'subform' : 'card'} onSubmit=${submit} aria-label=${provider ? `Edit provider ${provider.name}` : 'New provider'}>
    ${!provider && html`<h2>New provider</h2>`}
    <div class="row">
      ${!provider && html`<${Field} form=${form} prefix=${pre} name="kind" label="Kind" type="select" options=${KINDS} />`}
      <${Field} form=${form} prefix=${pre} name="name" label="Name" required />
      <${Field} form=${form} prefix=${pre} name="display_name" label="Display name" />
      <${Field} form=${form} prefix=${pre} name="base_url" label="Base URL" hint="empty for the vendor's own API" />
    </div>
    <${FormError} form=${form} />
    <button type="submit" class="primary" disabled=${form.busy}>${provider ? 'Save provider' : 'Add provider'}</button>
    ${onCancel && html`<button type="button" onClick=${onCancel}>Cancel</button>`}
    <${Busy} on=${form.busy} label="Saving…" />
  </form>`;
}

function ModelForm({ provider, onSaved }) {
  const form = useForm({ name: '', display_name: '', max_tokens: '128000', input_cost_per_million: '0', output_cost_per_million: '0' });
  const pre = `model-${provider.id}-`;
  async function submit(e) {
    e.preventDefault();
    const v = form.values;
    const body = {
      provider_id: provider.id, name: v.name, display_name: v.display_name,
      max_tokens: Number(v.max_tokens), input_cost_per_million: Number(v.input_cost_per_million),
      output_cost_per_million: Number(v.output_cost_per_million),
    };
    const saved = await form.submit(() => api.post('/models', body));
    if (saved) { form.setValues((x) => ({ ...x, name: '', display_name: '' })); onSaved(saved); }
  }
  return html`<form class="subform" onSubmit=${submit} aria-label=${`New model of ${provider.name}`}>
    <div class="row">
      <${Field} form=${form} prefix=${pre} name="name" label="Model name" hint="as the vendor calls it, e.g. gpt-4o" required />
      <${Field} form=${form} prefix=${pre} name="display_name" label="Display name" />
      <${Field} form=${form} prefix=${pre} name="max_tokens" label="Context tokens" type="number" />
      <${Field} form=${form} prefix=${pre} name="input_cost_per_million" label="Input $/M tokens" type="number" />
      <${Field} form=${form} prefix=${pre} name="output_cost_per_million" label="Output $/M tokens" type="number" />
    </div>
    <${FormError} form=${form} />
    <button type="submit" disabled=${form.busy}>Add model to ${provider.name}</button>
    <${Busy} on=${form.busy} label="Saving…" />
  </form>`;
}

function TestProvider({ cat, provider }) {
  const models = cat.models.filter((m) => m.provider_id === provider.id);
  const form = useForm({ credential_id: '', model_id: '' });
  const [result, setResult] = useState(null);
  const pre = `test-${provider.id}-`;
  async function submit(e) {
    e.preventDefault();
    setResult(null);
    const body = { credential_id: form.values.credential_id };
    if (form.values.model_id) body.model_id = form.values.model_id;
    const r = await form.submit(() => api.post(`/providers/${provider.id}/test`, body));
    if (r) setResult(r);
  }
  return html`<form class="subform" onSubmit=${submit} aria-label=${`Test ${provider.name}`}>
    <div class="row">
      <${Field} form=${form} prefix=${pre} name="credential_id" label="Key to test with" type="select"
        options=${credentialOptions(cat, provider.id, { blank: 'Choose a key…' })} />
      <${Field} form=${form} prefix=${pre} name="model_id" label="Model" type="select"
        options=${[['', 'First model'], ...models.map((m) => [m.id, m.name])]} />
    </div>
    <${FormError} form=${form} />
    <button type="submit" disabled=${form.busy}>Test ${provider.name}</button>
    <${Busy} on=${form.busy} label="Calling the provider…" />
    ${result && (result.status === 'ok'
      ? html`<p class="notice ok" role="status">OK in ${Math.round(result.latency_ms)} ms</p>`
      : html`<p class="error" role="alert">Failed after ${Math.round(result.latency_ms)} ms${result.upstream_status ? ` (HTTP ${result.upstream_status})` : ''}: ${result.error}</p>`)}
  </form>`;
}

async function setActive(path, active, done, fail) {
  try {
    await api.patch(path, { is_active: active });
    done();
  } catch (e) {
    fail(e.message);
  }
}

export function Providers({ canWrite }) {
  const [cat, error, reload, loading] = useLoad(() => loadCatalog('providers', 'models', 'credentials'), []);
  const [editing, setEditing] = useState(null);
  const [notice, setNotice] = useState('');
  const [failure, setFailure] = useState('');
  const saved = (msg) => { setNotice(msg); setFailure(''); setEditing(null); reload(); };
  return html`<h1>Providers and models</h1>
    <${Notice} text=${notice} />
    ${failure && html`<p class="error" role="alert">${failure}</p>`}
    <${Loading} data=${cat} error=${error} loading=${loading}>${() => html`
      ${cat.providers.length === 0 && html`<p>No providers yet.</p>`}
      ${cat.providers.map((p) => {
        const models = cat.models.filter((m) => m.provider_id === p.id);
        return html`<section class="card" aria-labelledby=${`prov-${p.id}`}>
          <div class="card-head">
            <h2 id=${`prov-${p.id}`}>${providerLabel(p)} <span class="muted">${p.kind}</span>${!p.is_active && html` <span class="tag">inactive</span>`}</h2>
            ${canWrite && html`<span class="actions">
              <button type="button" onClick=${() => setEditing(editing === p.id ? null : p.id)} aria-expanded=${editing === p.id ? 'true' : 'false'}>Edit ${p.name}</button>
              <button type="button" onClick=${() => setActive(`/providers/${p.id}`, !p.is_active, () => saved(`${p.name} ${p.is_active ? 'deactivated' : 'activated'}.`), setFailure)}>
                ${p.is_active ? 'Deactivate' : 'Activate'} ${p.name}</button>
            </span>`}
          </div>
          <p class="muted">${p.base_url || 'vendor default URL'}</p>
          ${editing === p.id && html`<${ProviderForm} provider=${p} onSaved=${(x) => saved(`${x.name} saved.`)} onCancel=${() => setEditing(null)} />`}
          ${models.length > 0 && html`<${Table} label=${`Models of ${p.name}`} head=${['Model', 'Context', 'Cost in/out per M', 'Status', '']}>
            ${models.map((m) => html`<tr>
              <td>${m.display_name || m.name} <span class="muted">${m.name}</span></td>
              <td>${m.max_tokens}</td>
              <td>$${m.input_cost_per_million} / $${m.output_cost_per_million}</td>
              <td>${m.is_active ? 'active' : 'inactive'}</td>
              <td>${canWrite && html`<button type="button" onClick=${() => setActive(`/models/${m.id}`, !m.is_active, () => saved(`${m.name} ${m.is_active ? 'deactivated' : 'activated'}.`), setFailure)}>
                ${m.is_active ? 'Deactivate' : 'Activate'} ${m.name}</button>`}</td>
            </tr>`)}
          <//>`}
          ${canWrite && html`<details><summary>Add a model to ${p.name}</summary><${ModelForm} provider=${p} onSaved=${(m) => saved(`Model ${m.name} added.`)} /></details>`}
          ${canWrite && html`<details><summary>Test ${p.name}</summary><${TestProvider} cat=${cat} provider=${p} /></details>`}
        </section>`;
      })}
      ${canWrite && html`<${ProviderForm} onSaved=${(x) => saved(`Provider ${x.name} added.`)} />`}
    `}<//>`;
}
