// Playground: chat with an assistant's provider, model, key and prompt (or any ad-hoc
// combination), streamed token by token through POST /admin/playground/chat. Nothing is stored.
import { html, useState, useRef } from '../../vendor/preact-htm.js';
import { api, stream } from '../api.js';
import { useForm, Field, FormError, Busy, useLoad, Loading } from '../ui.js';
import { loadCatalog, modelOptions, credentialOptions, credentialFor } from '../catalog.js';

function Chat({ cat }) {
  const form = useForm({ assistant: '', model_id: '', credential_id: '', system_prompt: '', message: '', stream: true });
  const [turns, setTurns] = useState([]);
  const [live, setLive] = useState(null);
  const [meta, setMeta] = useState(null);
  const abort = useRef(null);
  const v = form.values;
  const model = cat.modelsById[v.model_id];
  function pickAssistant(id) {
    const a = cat.assistantsById[id];
    if (!a) return;
    form.setValues((old) => ({ ...old, assistant: id, model_id: a.model_id, credential_id: a.credential_id || '', system_prompt: a.system_prompt }));
    setTurns([]);
  }
  function pickModel(id) {
    form.setValues((old) => ({ ...old, model_id: id, credential_id: credentialFor(cat, id, old.credential_id) || '' }));
  }
  async function send(e) {
    e.preventDefault();
    if (!v.message.trim()) { form.setErrors({ message: 'Type a message first.' }); return; }
    const history = [...turns, { role: 'user', content: v.message }];
    const body = {
      provider_id: model ? model.provider_id : '', model_id: v.model_id, credential_id: v.credential_id,
      system_prompt: v.system_prompt || null, messages: history, stream: v.stream,
    };
    setTurns(history);
    form.set('message', '');
    setMeta(null);
    await form.submit(async () => {
      try {
        if (!v.stream) {
          const r = await api.post('/playground/chat', body);
          setTurns([...history, { role: 'assistant', content: r.text }]);
          setMeta(r);
          return;
        }
        let text = '';
        setLive('');
        abort.current = new AbortController();
        await stream('/playground/chat', body, (name, data) => {
          if (name === 'delta') { text += data.text; setLive(text); } else if (name === 'done') setMeta(data);
          else if (name === 'usage') setMeta((m) => ({ ...m, usage: data }));
          else if (name === 'error') throw Object.assign(new Error(data.message), { field: null });
        }, abort.current.signal);
        setTurns([...history, { role: 'assistant', content: text }]);
      } catch (err) {
        setTurns(history.slice(0, -1));
        form.set('message', history[history.length - 1].content);
        // The API's field names differ from this form's in one place: provider_id comes from the model.
        if (err.field === 'provider_id') err.field = 'model_id';
        throw err;
      } finally {
        setLive(null);
      }
    });
  }
  return html`<div class="playground">
    <form class="card" onSubmit=${send} aria-label="Playground">
      <div class="row">
        <div class="field">
          <label for="pg-assistant">Start from an assistant</label>
          <select id="pg-assistant" value=${v.assistant} onChange=${(e) => pickAssistant(e.target.value)}>
            <option value="">Ad hoc</option>
            ${cat.assistants.map((a) => html`<option value=${a.id} selected=${a.id === v.assistant}>${a.name} (${(cat.appsById[a.app_id] || {}).name || a.app_id})</option>`)}
          </select>
        </div>
        <div class="field">
          <label for="pg-f-model_id">Model</label>
          <select id="pg-f-model_id" value=${v.model_id} onChange=${(e) => pickModel(e.target.value)}
            aria-invalid=${form.errors.model_id ? 'true' : undefined} aria-describedby=${form.errors.model_id ? 'pg-f-model_id-err' : undefined}>
            ${modelOptions(cat, { blank: 'Choose a model…' }).map(([val, l]) => html`<option value=${val} selected=${val === v.model_id}>${l}</option>`)}
          </select>
          ${form.errors.model_id && html`<p class="error" id="pg-f-model_id-err" role="alert">${form.errors.model_id}</p>`}
        </div>
        <${Field} form=${form} prefix="pg-" name="credential_id" label="API key" type="select"
          options=${credentialOptions(cat, model ? model.provider_id : null, { blank: 'Choose a key…' })} />
      </div>
      <${Field} form=${form} prefix="pg-" name="system_prompt" label="System prompt" type="textarea" rows=${3} />
      <div class="transcript" role="log" aria-label="Conversation" tabindex="0">
        ${turns.length === 0 && live === null && html`<p class="muted">No messages yet.</p>`}
        ${turns.map((t) => html`<p class=${`turn ${t.role}`}><strong>${t.role === 'user' ? 'You' : 'Model'}:</strong> ${t.content}</p>`)}
        ${live !== null && html`<p class="turn assistant streaming" aria-busy="true"><strong>Model:</strong> ${live}<span class="cursor" aria-hidden="true">▍</span></p>`}
      </div>
      ${meta && html`<p class="muted" role="status">${meta.provider} · ${meta.model} · ${meta.finish_reason || ''}${meta.latency_ms ? ` · ${Math.round(meta.latency_ms)} ms` : ''}${meta.usage ? ` · ${meta.usage.input_tokens} in / ${meta.usage.output_tokens} out tokens` : ''}</p>`}
      <${Field} form=${form} prefix="pg-" name="message" label="Message" type="textarea" rows=${2} />
      <${Field} form=${form} prefix="pg-" name="stream" label="Stream the reply" type="checkbox" />
      <${FormError} form=${form} />
      <button type="submit" class="primary" disabled=${form.busy}>Send</button>
      ${form.busy && abort.current && html`<button type="button" onClick=${() => abort.current.abort()}>Stop</button>`}
      <button type="button" onClick=${() => { setTurns([]); setMeta(null); }}>Clear</button>
      <${Busy} on=${form.busy} label="Waiting for the model…" />
    </form>
  </div>`;
}

export function Playground() {
  const [cat, error, , loading] = useLoad(() => loadCatalog('apps', 'assistants', 'providers', 'models', 'credentials'), []);
  return html`<h1>Playground</h1>
    <p class="muted">Talks to the provider directly with the chosen model, key and prompt; tools are not run here and nothing is stored.</p>
    <${Loading} data=${cat} error=${error} loading=${loading}>${() => html`<${Chat} cat=${cat} />`}<//>`;
}
