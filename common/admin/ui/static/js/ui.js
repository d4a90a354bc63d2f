// Shared pieces: forms whose API errors land next to the field they name, a busy
// indicator for slow requests, scrollable tables and small formatters.
import { html, useState, useEffect, useRef } from '../vendor/preact-htm.js';

// The form field an API error names: the longest field name that is `field` or its prefix
// (`parameters.properties.x` -> `parameters`). null: a form-level error.
export function fieldFor(err, names) {
  if (!err || !err.field) return null;
  let best = null;
  for (const n of names) {
    if ((err.field === n || err.field.startsWith(`${n}.`)) && (!best || n.length > best.length)) best = n;
  }
  return best;
}

export function useForm(initial) {
  const [values, setValues] = useState(initial);
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const set = (name, value) => setValues((v) => ({ ...v, [name]: value }));
  // Run `fn(values)`; an ApiError goes next to its field (or above the buttons).
  async function submit(fn) {
    setBusy(true);
    setErrors({});
    try {
      return await fn(values);
    } catch (e) {
      const f = fieldFor(e, Object.keys(values));
      setErrors(f ? { [f]: e.message } : { _form: e.message });
      return undefined;
    } finally {
      setBusy(false);
    }
  }
  return { values, setValues, set, errors, setErrors, busy, submit };
}

let uid = 0;
export function Field({ form, name, label, type = 'text', options, hint, rows, required, autocomplete, disabled, onInput, prefix = '' }) {
  const id = `${prefix}f-${name}`;
  const err = form.errors[name];
  const describedBy = [hint ? `${id}-hint` : '', err ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  const value = form.values[name];
  const common = {
    id, name, disabled, required, autocomplete,
    'aria-invalid': err ? 'true' : undefined,
    'aria-describedby': describedBy,
  };
  const change = (v) => { form.set(name, v); if (onInput) onInput(v); };
  let input;
  if (type === 'textarea') {
    input = html`<textarea ...${common} rows=${rows || 4} value=${value ?? ''} onInput=${(e) => change(e.target.value)} spellcheck="false"></textarea>`;
  } else if (type === 'select') {
    input = html`<select ...${common} value=${value ?? ''} onChange=${(e) => change(e.target.value)}>
      ${options.map(([v, l]) => html`<option value=${v} selected=${v === (value ?? '')}>${l}</option>`)}
    </select>`;
  } else if (type === 'checkbox') {
    return html`<div class="field check">
      <input type="checkbox" ...${common} checked=${!!value} onChange=${(e) => change(e.target.checked)} />
      <label for=${id}>${label}</label>
      ${err && html`<p class="error" id=${`${id}-err`} role="alert">${err}</p>`}
    </div>`;
  } else {
    input = html`<input type=${type} ...${common} value=${value ?? ''} onInput=${(e) => change(e.target.value)} />`;
  }
  return html`<div class="field">
    <label for=${id}>${label}</label>
    ${input}
    ${hint && html`<p class="hint" id=${`${id}-hint`}>${hint}</p>`}
    ${err && html`<p class="error" id=${`${id}-err`} role="alert">${err}</p>`}
  </div>`;
}

export function FormError({ form }) {
  return form.errors._form ? html`<p class="error form-error" role="alert">${form.errors._form}</p>` : null;
}

export function Busy({ on, label = 'Working…' }) {
  return on ? html`<span class="busy" role="status"><span class="spinner" aria-hidden="true"></span>${label}</span>` : null;
}

export function Notice({ text, kind = 'ok' }) {
  return text ? html`<p class=${`notice ${kind}`} role="status">${text}</p>` : null;
}

// A wide table scrolls inside its own focusable region (keyboard users can scroll it).
export function Table({ label, head, children }) {
  return html`<div class="table-wrap" role="region" aria-label=${label} tabindex="0">
    <table>
      <caption class="sr-only">${label}</caption>
      <thead><tr>${head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
      <tbody>${children}</tbody>
    </table>
  </div>`;
}

// Load once per `deps`; returns [data, error, reload]. A failure is shown, never swallowed.
export function useLoad(fn, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState({ data: null, error, loading: false }),
    );
    return () => { live = false; };
  }, [...deps, tick]);
  return [state.data, state.error, () => setTick((t) => t + 1), state.loading];
}

// Always one element (a fragment that changes length can misplace its DOM nodes).
export function Loading({ error, loading, data, children }) {
  let body;
  if (error) body = html`<p class="error" role="alert">Could not load: ${error.message}</p>`;
  else if (data === null || data === undefined) body = html`<${Busy} on=${true} label="Loading…" />`;
  else body = html`${loading ? html`<${Busy} on=${true} label="Refreshing…" />` : null}${children()}`;
  return html`<div class="loaded">${body}</div>`;
}

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

export function byId(items) {
  return Object.fromEntries((items || []).map((x) => [x.id, x]));
}

// Validate JSON as you type: returns the error text or '' (and the parsed value).
export function parseJson(text, { objectSchema = false } = {}) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: `not valid JSON: ${e.message}` };
  }
  if (objectSchema) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'must be a JSON object' };
    if (value.type !== undefined && value.type !== 'object') return { error: 'a tool\'s parameters must have "type": "object"' };
  }
  return { value, error: '' };
}

export function CopyButton({ text, label = 'Copy' }) {
  const [done, setDone] = useState(false);
  const ref = useRef(null);
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setDone(true);
    } catch {
      // No clipboard permission: select the text so Ctrl+C works.
      const el = ref.current && ref.current.previousElementSibling;
      if (el && el.select) el.select();
      setDone(false);
    }
  }
  return html`<button type="button" ref=${ref} onClick=${copy}>${done ? 'Copied' : label}</button>`;
}

export function newId() { uid += 1; return uid; }
