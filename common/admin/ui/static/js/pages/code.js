// Code providers (platform admins only; the API gives tenant roles 403): start from a
// template, edit the Python in a code editor with line numbers, validate (each problem
// is listed as "line N: message" and moves the caret to its line; the gutter marks it),
// save (the API's 422 next to the field it names), then test: the steps and their
// latencies, with progress while the sandbox runs the call.
import { html, useState, useRef } from '../../vendor/preact-htm.js';
import { api } from '../api.js';
import { useForm, Field, FormError, Busy, Notice, useLoad, Loading } from '../ui.js';
import { loadCatalog, credentialOptions, providerLabel } from '../catalog.js';
import { CodeEditor, goToLine } from '../editor.js';

const TEMPLATES = [
  ['anthropic', 'Anthropic (Messages API)'], ['openai', 'OpenAI'], ['openai_compatible', 'OpenAI-compatible'],
  ['cohere', 'Cohere (v2)'], ['gemini', 'Gemini'], ['ollama', 'Ollama'],
];
const CODE_FIELDS = { python_code: 'Python code', validation_code: 'Validation code' };
const PRE = 'code-';

const pretty = (v) => (v === null || v === undefined ? '' : JSON.stringify(v, null, 2));

function draftOf(provider, code) {
  const p = provider || {};
  const c = code || {};
  return {
    name: p.name || '', display_name: p.display_name || '', base_url: p.base_url || '',
    python_code: c.python_code || '', validation_code: c.validation_code || '',
    config: pretty(c.config || {}), config_schema: pretty(c.config_schema),
    required_dependencies: (c.required_dependencies || []).join(', '),
    model: '', api_key: '',
  };
}

// The JSON fields parsed, or an error naming the field (shown next to it, nothing sent).
function parsed(v) {
  const out = {};
  for (const name of ['config', 'config_schema']) {
    const text = v[name].trim();
    if (!text) { out[name] = name === 'config' ? {} : null; continue; }
    try {
      out[name] = JSON.parse(text);
    } catch (e) {
      return { error: { [name]: `not valid JSON: ${e.message}` } };
    }
  }
  out.required_dependencies = v.required_dependencies.split(/[\s,]+/).filter(Boolean);
  return { body: out };
}

function Problems({ problems, onGo }) {
  if (!problems) return null;
  if (problems.length === 0) return html`<p class="notice ok" role="status">Validated: no problems found.</p>`;
  return html`<div class="problems" id="code-problems">
    <h3 role="alert">${problems.length} problem${problems.length === 1 ? '' : 's'}</h3>
    <ul aria-label="Problems">${problems.map((p) => {
      const where = `${p.field !== 'python_code' ? `${p.field} ` : ''}${p.line ? `line ${p.line}` : ''}`;
      const text = `${where ? `${where}: ` : ''}${p.message}`;
      return html`<li>${p.line && CODE_FIELDS[p.field]
        ? html`<button type="button" class="link" onClick=${() => onGo(p)}>${text}</button>`
        : text}</li>`;
    })}</ul>
  </div>`;
}

function CodeForm({ provider, code, onSaved, onCancel }) {
  const form = useForm(draftOf(provider, code));
  const [own, setOwn] = useState(provider || null); // the stored record once there is one
  const [kind, setKind] = useState('anthropic');
  const [problems, setProblems] = useState(null);
  const [busy, setBusy] = useState('');
  const areas = { python_code: useRef(null), validation_code: useRef(null) };
  const v = form.values;
  const edit = (name) => (text) => { form.set(name, text); };

  async function loadTemplate() {
    setBusy('Loading the template…');
    form.setErrors({});
    try {
      const t = await api.get(`/providers/code/template?kind=${encodeURIComponent(kind)}`);
      form.setValues((x) => ({
        ...x, python_code: t.python_code, validation_code: t.validation_code || '', config: pretty(t.config || {}),
        config_schema: pretty(t.config_schema), required_dependencies: (t.required_dependencies || []).join(', '),
      }));
      setProblems(null);
    } catch (e) {
      form.setErrors({ _form: e.message });
    } finally { setBusy(''); }
  }

  async function validate() {
    const { body, error } = parsed(v);
    if (error) { form.setErrors(error); return; }
    setBusy('Validating…');
    form.setErrors({});
    try {
      const r = await api.post('/providers/code/validate', {
        python_code: v.python_code, validation_code: v.validation_code || null, ...body,
      });
      setProblems(r.problems);
    } catch (e) {
      const field = e.field && e.field.split('.')[0];
      form.setErrors(field in v ? { [field]: e.message } : { _form: e.message });
    } finally { setBusy(''); }
  }

  function go(p) { goToLine(areas[p.field].current, p.line); }

  async function save(e) {
    e.preventDefault();
    const { body, error } = parsed(v);
    if (error) { form.setErrors(error); return; }
    const record = {
      ...body, name: v.name, display_name: v.display_name, base_url: v.base_url || null,
      python_code: v.python_code, validation_code: v.validation_code || null,
    };
    setBusy('Saving…');
    let saved;
    try {
      saved = await form.submit(() => (own
        ? api.patch(`/providers/${own.id}`, record)
        : api.post('/providers', { kind: 'code', ...record })));
    } finally { setBusy(''); }
    if (!saved) {
      setProblems(null);
      return;
    }
    // A new provider's first model and key, so it can be tested (and used) at once. If one
    // fails, the form stays here with that error and saving again updates (never duplicates).
    const extra = {};
    if (!own) {
      setOwn(saved);
      const later = ' (the provider is saved; add it on the Providers or Credentials page)';
      if (v.model.trim()) {
        try { await api.post('/models', { provider_id: saved.id, name: v.model.trim() }); } catch (err) { extra.model = err.message + later; }
      }
      if (v.api_key) {
        try {
          await api.post('/credentials', { provider_id: saved.id, name: `${saved.name} key`, value: v.api_key });
        } catch (err) { extra.api_key = err.message + later; }
      }
    }
    form.set('api_key', '');
    form.setErrors(extra);
    onSaved(saved, Object.keys(extra).length === 0);
  }

  const marksOf = (field) => Object.fromEntries((problems || []).filter((p) => p.field === field && p.line).map((p) => [p.line, p.message]));
  const editorField = (name, label, hint, rows) => {
    const id = `${PRE}f-${name}`;
    const err = form.errors[name];
    const marked = (problems || []).some((p) => p.field === name);
    const describedBy = [`${id}-hint`, err ? `${id}-err` : '', marked ? 'code-problems' : ''].filter(Boolean).join(' ');
    return html`<div class="field">
      <label for=${id}>${label}</label>
      <${CodeEditor} id=${id} value=${v[name]} onInput=${edit(name)} marks=${marksOf(name)} rows=${rows}
        areaRef=${areas[name]} describedBy=${describedBy} invalid=${!!err || marked} />
      <p class="hint" id=${`${id}-hint`}>${hint}</p>
      ${err && html`<p class="error" id=${`${id}-err`} role="alert">${err}</p>`}
    </div>`;
  };

  return html`<form class="card" onSubmit=${save} aria-label=${provider ? `Edit code provider ${provider.name}` : 'New code provider'}>
    <h2>${provider ? `Edit ${providerLabel(provider)}` : 'New code provider'}</h2>
    <div class="inline-form">
      <div class="field inline-field">
        <label for="code-template">Template</label>
        <select id="code-template" value=${kind} onChange=${(e) => setKind(e.target.value)}>
          ${TEMPLATES.map(([k, l]) => html`<option value=${k} selected=${k === kind}>${l}</option>`)}
        </select>
      </div>
      <button type="button" onClick=${loadTemplate} disabled=${!!busy}>Use template</button>
    </div>
    <div class="row">
      <${Field} form=${form} prefix=${PRE} name="name" label="Name" required />
      <${Field} form=${form} prefix=${PRE} name="display_name" label="Display name" />
      <${Field} form=${form} prefix=${PRE} name="base_url" label="Base URL" hint="the API root; overrides config.base_url" />
    </div>
    ${editorField('python_code', 'Python code', 'Defines async def stream(request). Tab moves to the next field; indent with spaces.', 18)}
    <${Problems} problems=${problems} onGo=${go} />
    <details open=${!!(form.errors.config || form.errors.config_schema || form.errors.validation_code || form.errors.required_dependencies)
      || (problems || []).some((p) => p.field !== 'python_code')}>
      <summary>Config, schema, dependencies and validation code</summary>
      <div class="row">
        <${Field} form=${form} prefix=${PRE} name="config" label="Config (JSON)" type="textarea" rows=${5} hint="non-secret values; keys go in a credential" />
        <${Field} form=${form} prefix=${PRE} name="config_schema" label="Config schema (JSON Schema)" type="textarea" rows=${5} />
      </div>
      <${Field} form=${form} prefix=${PRE} name="required_dependencies" label="Required dependencies" hint="comma-separated, e.g. httpx" />
      ${editorField('validation_code', 'Validation code', 'Optional validate(config); the test runs it first.', 6)}
    </details>
    ${(!own || form.errors.model || form.errors.api_key) && html`<div class="row">
      <${Field} form=${form} prefix=${PRE} name="model" label="Model" hint="the upstream model name, e.g. claude-sonnet-4-5 (optional)" />
      <${Field} form=${form} prefix=${PRE} name="api_key" label="API key" type="password" autocomplete="off" hint="stored in Secret Manager; write-only (optional)" />
    </div>`}
    <${FormError} form=${form} />
    <button type="button" onClick=${validate} disabled=${!!busy || !v.python_code}>Validate</button>
    <button type="submit" class="primary" disabled=${!!busy}>${own ? 'Save code provider' : 'Create code provider'}</button>
    ${onCancel && html`<button type="button" onClick=${onCancel}>Cancel</button>`}
    <${Busy} on=${!!busy} label=${busy} />
  </form>`;
}

function TestCode({ cat, provider }) {
  const models = cat.models.filter((m) => m.provider_id === provider.id);
  const keys = credentialOptions(cat, provider.id, { blank: 'Choose a key…' });
  const form = useForm({ credential_id: keys.length === 2 ? keys[1][0] : '', model_id: '', message: 'Say hello.' });
  const [result, setResult] = useState(null);
  const pre = `ctest-${provider.id}-`;
  async function submit(e) {
    e.preventDefault();
    setResult(null);
    const body = { credential_id: form.values.credential_id, message: form.values.message };
    if (form.values.model_id) body.model_id = form.values.model_id;
    const r = await form.submit(() => api.post(`/providers/${provider.id}/test`, body));
    if (r) setResult(r);
  }
  return html`<form class="subform" onSubmit=${submit} aria-label=${`Test ${provider.name}`}>
    <div class="row">
      <${Field} form=${form} prefix=${pre} name="credential_id" label="Key to test with" type="select" options=${keys} />
      <${Field} form=${form} prefix=${pre} name="model_id" label="Model" type="select"
        options=${[['', 'First model'], ...models.map((m) => [m.id, m.name])]} />
      <${Field} form=${form} prefix=${pre} name="message" label="Test message" />
    </div>
    <${FormError} form=${form} />
    <button type="submit" disabled=${form.busy}>Test ${provider.name}</button>
    <${Busy} on=${form.busy} label="Running the test in the sandbox…" />
    ${result && html`<div class="test-result">
      ${result.status === 'ok'
        ? html`<p class="notice ok" role="status">OK in ${Math.round(result.latency_ms)} ms</p>`
        : html`<p class="error" role="alert">Failed after ${Math.round(result.latency_ms)} ms: ${result.error}</p>`}
      <ol class="steps" aria-label=${`Test steps of ${provider.name}`}>
        ${result.steps.map((s) => html`<li class=${`step ${s.status}`}>
          <strong>${s.name}</strong> ${s.status} in ${Math.round(s.latency_ms)} ms${s.line ? ` (line ${s.line})` : ''}${s.error ? html`: <span class="error">${s.error}</span>` : ''}
        </li>`)}
      </ol>
      ${result.reply !== null && result.reply !== undefined && html`<p>Reply: <q class="reply">${result.reply}</q></p>`}
    </div>`}
  </form>`;
}

export function CodeProviders({ me }) {
  const [cat, error, reload, loading] = useLoad(() => loadCatalog('providers', 'models', 'credentials'), []);
  const [editing, setEditing] = useState(null); // {provider, code} of the one being edited
  const [notice, setNotice] = useState('');
  const [failure, setFailure] = useState('');
  const [formKey, setFormKey] = useState(0);
  if (me.role !== 'platform_admin') {
    return html`<h1>Code providers</h1><p>Only platform admins manage code providers.</p>`;
  }
  async function startEdit(p) {
    setFailure('');
    try {
      setEditing({ provider: p, code: await api.get(`/providers/${p.id}/code`) });
    } catch (e) { setFailure(`Could not load ${p.name}: ${e.message}`); }
  }
  function saved(p, complete) {
    setNotice(`Code provider ${p.name} saved.${complete ? '' : ' See the errors in the form.'}`);
    setFailure('');
    if (complete) { setEditing(null); setFormKey((k) => k + 1); }
    reload();
  }
  return html`<h1>Code providers</h1>
    <p class="muted">Python that runs in the sandbox, one fresh process per call. Start from a template.</p>
    <${Notice} text=${notice} />
    ${failure && html`<p class="error" role="alert">${failure}</p>`}
    <${Loading} data=${cat} error=${error} loading=${loading}>${() => {
      const code = cat.providers.filter((p) => p.kind === 'code');
      return html`
        ${code.length === 0 && html`<p>No code providers in this tenant yet.</p>`}
        ${code.map((p) => html`<section class="card" aria-labelledby=${`cprov-${p.id}`}>
          <div class="card-head">
            <h2 id=${`cprov-${p.id}`}>${providerLabel(p)} <span class="muted">code</span>${!p.is_active && html` <span class="tag">inactive</span>`}</h2>
            <span class="actions"><button type="button" onClick=${() => startEdit(p)}>Edit code of ${p.name}</button></span>
          </div>
          <p class="muted">${p.base_url || (p.config && p.config.base_url) || 'base URL from the code'} · ${cat.models.filter((m) => m.provider_id === p.id).map((m) => m.name).join(', ') || 'no model yet'}</p>
          <details open=${true}><summary>Test ${p.name}</summary><${TestCode} cat=${cat} provider=${p} /></details>
        </section>`)}
        ${editing
          ? html`<${CodeForm} key=${`edit-${editing.provider.id}`} provider=${editing.provider} code=${editing.code}
              onSaved=${saved} onCancel=${() => setEditing(null)} />`
          : html`<${CodeForm} key=${`new-${formKey}`} onSaved=${saved} />`}
      `;
    }}<//>`;
}
