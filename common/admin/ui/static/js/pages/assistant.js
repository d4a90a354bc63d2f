// One assistant: create or edit (prompt, model, key, tools, actions), its revision history
// with a diff against the previous revision, and rollback to any revision.
import { html, useState } from '../../vendor/preact-htm.js';
import { api, listAll } from '../api.js';
import { useForm, Field, FormError, Busy, Notice, useLoad, Loading, when, parseJson } from '../ui.js';
import { loadCatalog, modelOptions, credentialOptions, credentialFor } from '../catalog.js';
import { lineDiff, changedFields } from '../diff.js';

const EDITABLE = ['name', 'slug', 'app_id', 'description', 'system_prompt', 'model_id', 'credential_id',
  'temperature', 'is_streaming', 'is_active', 'tools', 'actions'];

function toForm(a, appId) {
  return {
    name: a ? a.name : '',
    slug: a ? a.slug : '',
    app_id: a ? a.app_id : appId || '',
    description: a ? a.description : '',
    system_prompt: a ? a.system_prompt : '',
    model_id: a ? a.model_id : '',
    credential_id: a ? a.credential_id || '' : '',
    temperature: a && a.temperature !== null && a.temperature !== undefined ? String(a.temperature) : '',
    is_streaming: a ? a.is_streaming : false,
    is_active: a ? a.is_active : true,
    tools: a ? a.tools : [],
    actions: JSON.stringify(a ? a.actions : {}, null, 2),
  };
}

function toBody(v) {
  const body = {};
  for (const k of EDITABLE) body[k] = v[k];
  body.credential_id = v.credential_id || null;
  body.temperature = v.temperature === '' ? null : Number(v.temperature);
  body.actions = JSON.parse(v.actions);
  return body;
}

function Diff({ before, after }) {
  const lines = lineDiff(before, after);
  return html`<pre class="diff" aria-label="System prompt diff">${lines.map(([op, text]) => html`<span class=${op === '+' ? 'add' : op === '-' ? 'del' : 'same'}>${op === ' ' ? '  ' : `${op} `}${text}\n</span>`)}</pre>`;
}

function Revisions({ id, canWrite, onRolledBack }) {
  const [revs, error, reload, loading] = useLoad(() => listAll(`/assistants/${id}/revisions`, 400), [id]);
  const [open, setOpen] = useState(null);
  const [busy, setBusy] = useState(null);
  const [failure, setFailure] = useState('');
  async function rollback(n) {
    setBusy(n);
    setFailure('');
    try {
      const saved = await api.post(`/assistants/${id}/rollback`, { revision: n });
      reload();
      onRolledBack(saved, n);
    } catch (e) {
      setFailure(e.message);
    } finally {
      setBusy(null);
    }
  }
  return html`<section class="card" aria-labelledby="revs-h">
    <h2 id="revs-h">Revisions</h2>
    ${failure && html`<p class="error" role="alert">${failure}</p>`}
    <${Loading} data=${revs} error=${error} loading=${loading}>${() => html`<ol class="revisions">
      ${revs.map((r, i) => {
        const prev = revs[i + 1];
        const fields = changedFields(prev && prev.record, r.record);
        return html`<li>
          <div class="rev-head">
            <strong>Revision ${r.revision}</strong>
            <span>${r.action}${r.rolled_back_to ? ` to ${r.rolled_back_to}` : ''} · ${when(r.at)} · ${r.actor || 'bundle'}</span>
            <span class="muted">${fields.length ? `changed: ${fields.join(', ')}` : 'no field changed'}</span>
            <span class="actions">
              <button type="button" aria-expanded=${open === r.revision ? 'true' : 'false'} onClick=${() => setOpen(open === r.revision ? null : r.revision)}>
                ${open === r.revision ? 'Hide' : 'Show'} prompt diff of revision ${r.revision}</button>
              ${canWrite && i > 0 && html`<button type="button" onClick=${() => rollback(r.revision)} disabled=${busy !== null}>Roll back to revision ${r.revision}</button>`}
              <${Busy} on=${busy === r.revision} label="Rolling back…" />
            </span>
          </div>
          ${open === r.revision && html`<${Diff} before=${prev ? prev.record.system_prompt : ''} after=${r.record.system_prompt} />`}
        </li>`;
      })}
    </ol>`}<//>
  </section>`;
}

function Editor({ cat, assistant, appId, canWrite, onSaved }) {
  const form = useForm(toForm(assistant, appId || (cat.apps[0] && cat.apps[0].id)));
  const [actionsError, setActionsError] = useState('');
  const v = form.values;
  const model = cat.modelsById[v.model_id];
  const providerId = model ? model.provider_id : null;
  function pickModel(modelId) {
    form.setValues((old) => ({ ...old, model_id: modelId, credential_id: credentialFor(cat, modelId, old.credential_id) || '' }));
  }
  async function submit(e) {
    e.preventDefault();
    const parsed = parseJson(v.actions);
    if (parsed.error) { form.setErrors({ actions: parsed.error }); return; }
    const saved = await form.submit((values) => (assistant
      ? api.patch(`/assistants/${assistant.id}`, toBody(values))
      : api.post('/assistants', toBody(values))));
    if (saved) onSaved(saved);
  }
  const ro = !canWrite;
  return html`<form class="card" onSubmit=${submit} aria-labelledby="asst-form-h">
    <h2 id="asst-form-h">${assistant ? 'Settings' : 'New assistant'}</h2>
    <div class="row">
      <${Field} form=${form} name="name" label="Name" required disabled=${ro} />
      <${Field} form=${form} name="slug" label="Slug" required disabled=${ro} />
      <${Field} form=${form} name="app_id" label="App" type="select" disabled=${ro}
        options=${cat.apps.map((a) => [a.id, a.name])} />
    </div>
    <${Field} form=${form} name="description" label="Description" disabled=${ro} />
    <${Field} form=${form} name="system_prompt" label="System prompt" type="textarea" rows=${8} disabled=${ro} />
    <div class="row">
      <div class="field">
        <label for="f-model_id">Model</label>
        <select id="f-model_id" value=${v.model_id} disabled=${ro} onChange=${(e) => pickModel(e.target.value)}
          aria-invalid=${form.errors.model_id ? 'true' : undefined} aria-describedby=${form.errors.model_id ? 'f-model_id-err' : undefined}>
          ${modelOptions(cat, { blank: 'Choose a model…' }).map(([val, l]) => html`<option value=${val} selected=${val === v.model_id}>${l}</option>`)}
        </select>
        ${form.errors.model_id && html`<p class="error" id="f-model_id-err" role="alert">${form.errors.model_id}</p>`}
      </div>
      <${Field} form=${form} name="credential_id" label="API key" type="select" disabled=${ro}
        options=${credentialOptions(cat, providerId)} />
      <${Field} form=${form} name="temperature" label="Temperature" type="number" hint="0 to 2; empty for the provider's default" disabled=${ro} />
    </div>
    <fieldset disabled=${ro}>
      <legend>Tools</legend>
      ${cat.tools.length === 0 ? html`<p class="muted">No tools defined (see Tools).</p>` : cat.tools.map((t) => html`<div class="field check">
        <input type="checkbox" id=${`tool-${t.id}`} checked=${v.tools.includes(t.id)}
          onChange=${(e) => form.set('tools', e.target.checked ? [...v.tools, t.id] : v.tools.filter((x) => x !== t.id))} />
        <label for=${`tool-${t.id}`}>${t.name}</label>
      </div>`)}
      ${form.errors.tools && html`<p class="error" role="alert">${form.errors.tools}</p>`}
    </fieldset>
    <${Field} form=${form} name="actions" label="Actions (JSON: name → {template, description, input_schema})" type="textarea" rows=${6}
      disabled=${ro} hint=${actionsError ? undefined : 'Checked as you type; the server validates the schemas on save.'}
      onInput=${(text) => { const { error } = parseJson(text); setActionsError(error); form.setErrors((errs) => ({ ...errs, actions: error || undefined })); }} />
    <div class="row">
      <${Field} form=${form} name="is_streaming" label="Stream replies" type="checkbox" disabled=${ro} />
      <${Field} form=${form} name="is_active" label="Active" type="checkbox" disabled=${ro} />
    </div>
    <${FormError} form=${form} />
    ${canWrite && html`<button type="submit" class="primary" disabled=${form.busy || !!actionsError}>${assistant ? 'Save' : 'Create assistant'}</button>`}
    <${Busy} on=${form.busy} label="Saving…" />
  </form>`;
}

export function AssistantPage({ id, query, canWrite }) {
  const creating = id === 'new';
  const [data, error, reload, loading] = useLoad(async () => {
    const cat = await loadCatalog();
    const assistant = creating ? null : await api.get(`/assistants/${encodeURIComponent(id)}`);
    return { cat, assistant };
  }, [id]);
  const [notice, setNotice] = useState('');
  const [version, setVersion] = useState(0);
  return html`<p><a href="#/apps">← Apps</a></p>
    <${Loading} data=${data} error=${error} loading=${loading}>${() => html`
      <h1>${data.assistant ? data.assistant.name : 'New assistant'}</h1>
      <${Notice} text=${notice} />
      <${Editor} key=${`${version}-${data.assistant ? data.assistant.updated_at : 'new'}`} cat=${data.cat} assistant=${data.assistant}
        appId=${query.get('app')} canWrite=${canWrite}
        onSaved=${(saved) => {
          if (creating) { location.hash = `#/assistants/${encodeURIComponent(saved.id)}`; return; }
          setNotice('Saved.'); setVersion((x) => x + 1); reload();
        }} />
      ${data.assistant && html`<${Revisions} key=${`revs-${version}`} id=${data.assistant.id} canWrite=${canWrite}
        onRolledBack=${(_, n) => { setNotice(`Rolled back to revision ${n}.`); setVersion((x) => x + 1); reload(); }} />`}
    `}<//>`;
}
