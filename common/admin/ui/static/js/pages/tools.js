// Webhook tools: name, URL, key and a JSON Schema for the parameters, checked as you
// type; the API's 422 lands next to the field it names. (Assistant actions are edited
// on the assistant's page, the same way.)
import { html, useState } from '../../vendor/preact-htm.js';
import { api } from '../api.js';
import { useForm, Field, FormError, Busy, Notice, Table, useLoad, Loading, parseJson } from '../ui.js';
import { loadCatalog, credentialOptions } from '../catalog.js';

const EMPTY_SCHEMA = '{\n  "type": "object",\n  "properties": {}\n}';

function ToolForm({ cat, tool, onSaved, onCancel }) {
  const t = tool || {};
  const form = useForm({
    name: t.name || '', description: t.description || '', url: t.url || '',
    credential_id: t.credential_id || '', timeout_s: String(t.timeout_s ?? 10),
    parameters: tool ? JSON.stringify(t.parameters, null, 2) : EMPTY_SCHEMA,
  });
  const [live, setLive] = useState('');
  const pre = tool ? `tool-${tool.id}-` : 'tool-new-';
  function check(text) {
    const { error } = parseJson(text, { objectSchema: true });
    setLive(error);
    form.setErrors((errs) => ({ ...errs, parameters: error || undefined }));
  }
  async function submit(e) {
    e.preventDefault();
    const parsed = parseJson(form.values.parameters, { objectSchema: true });
    if (parsed.error) { form.setErrors({ parameters: parsed.error }); return; }
    const v = form.values;
    const body = {
      name: v.name, description: v.description, url: v.url, credential_id: v.credential_id || null,
      timeout_s: Number(v.timeout_s), parameters: parsed.value,
    };
    const saved = await form.submit(() => (tool ? api.patch(`/tools/${tool.id}`, body) : api.post('/tools', body)));
    if (saved) onSaved(saved);
  }
  return html`<form class=${tool ? 'subform' : 'card'} onSubmit=${submit} aria-label=${tool ? `Edit tool ${tool.name}` : 'New webhook tool'}>
    ${!tool && html`<h2>New webhook tool</h2>`}
    <div class="row">
      <${Field} form=${form} prefix=${pre} name="name" label="Name" hint="letters, digits, _ and -" required />
      <${Field} form=${form} prefix=${pre} name="url" label="Webhook URL" type="url" required />
      <${Field} form=${form} prefix=${pre} name="credential_id" label="Key sent to the webhook" type="select" options=${credentialOptions(cat, null)} />
      <${Field} form=${form} prefix=${pre} name="timeout_s" label="Timeout (s)" type="number" />
    </div>
    <${Field} form=${form} prefix=${pre} name="description" label="Description (the model reads it)" />
    <${Field} form=${form} prefix=${pre} name="parameters" label="Parameters (JSON Schema)" type="textarea" rows=${8}
      hint=${live ? undefined : 'Checked as you type.'} onInput=${check} />
    <${FormError} form=${form} />
    <button type="submit" class="primary" disabled=${form.busy || !!live}>${tool ? 'Save tool' : 'Add tool'}</button>
    ${onCancel && html`<button type="button" onClick=${onCancel}>Cancel</button>`}
    <${Busy} on=${form.busy} label="Saving…" />
  </form>`;
}

export function Tools({ canWrite }) {
  const [cat, error, reload, loading] = useLoad(() => loadCatalog('tools', 'credentials'), []);
  const [editing, setEditing] = useState(null);
  const [notice, setNotice] = useState('');
  const [failure, setFailure] = useState('');
  const done = (msg) => { setNotice(msg); setFailure(''); setEditing(null); reload(); };
  async function toggle(t) {
    try {
      await api.patch(`/tools/${t.id}`, { is_active: !t.is_active });
      done(`${t.name} ${t.is_active ? 'deactivated' : 'activated'}.`);
    } catch (e) { setFailure(e.message); }
  }
  return html`<h1>Tools</h1>
    <p class="muted">Webhook tools the assistants may call. Actions are edited on each assistant's page.</p>
    <${Notice} text=${notice} />
    ${failure && html`<p class="error" role="alert">${failure}</p>`}
    <${Loading} data=${cat} error=${error} loading=${loading}>${() => html`
      <${Table} label="Webhook tools" head=${['Name', 'URL', 'Status', '']}>
        ${cat.tools.map((t) => html`<tr>
          <td>${t.name}<div class="muted">${t.description}</div></td>
          <td><code>${t.url}</code></td>
          <td>${t.is_active ? 'active' : 'inactive'}</td>
          <td>${canWrite && html`<span class="actions">
            <button type="button" onClick=${() => setEditing(editing === t.id ? null : t.id)} aria-expanded=${editing === t.id ? 'true' : 'false'}>Edit ${t.name}</button>
            <button type="button" onClick=${() => toggle(t)}>${t.is_active ? 'Deactivate' : 'Activate'} ${t.name}</button>
          </span>`}</td>
        </tr>`)}
      <//>
      ${cat.tools.length === 0 && html`<p>No tools yet.</p>`}
      ${editing && html`<section class="card" aria-label="Edit tool"><${ToolForm} cat=${cat} tool=${cat.toolsById[editing]} onSaved=${(x) => done(`${x.name} saved.`)} onCancel=${() => setEditing(null)} /></section>`}
      ${canWrite && html`<${ToolForm} cat=${cat} onSaved=${(x) => done(`Tool ${x.name} added.`)} />`}
    `}<//>`;
}
