// Config as code: export downloads the tenant's effective config as YAML; import uploads
// a YAML (or JSON) bundle and shows the API's 422 next to the document, naming the field.
import { html, useState, useEffect, useRef } from '../../vendor/preact-htm.js';
import { request } from '../api.js';
import { Busy, Notice } from '../ui.js';

// The line of `text` where a dotted field path (`assistants.1.model_id`) most likely is.
export function lineOf(text, field) {
  if (!field) return null;
  const parts = field.split('.');
  const lines = text.split('\n');
  let from = 0;
  let found = null;
  for (const part of parts) {
    if (/^\d+$/.test(part)) {
      let seen = -1;
      for (let i = from; i < lines.length; i += 1) {
        if (/^\s*- /.test(lines[i]) && (seen += 1) === Number(part)) { from = i; found = i; break; }
      }
    } else {
      const re = new RegExp(`^\\s*(- )?${part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:`);
      for (let i = from; i < lines.length; i += 1) if (re.test(lines[i])) { from = i; found = i; break; }
    }
  }
  return found === null ? null : found + 1;
}

export function Config({ canWrite, tenant }) {
  const [yaml, setYaml] = useState('');
  const [busy, setBusy] = useState('');
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState('');
  const [url, setUrl] = useState(null);
  const area = useRef(null);
  useEffect(() => () => url && URL.revokeObjectURL(url), [url]);
  // Put the field the 422 names in view: select its line and scroll the document to it.
  useEffect(() => {
    const el = area.current;
    if (!el || !error || !error.line) return;
    const lines = yaml.split('\n');
    const start = lines.slice(0, error.line - 1).reduce((n, l) => n + l.length + 1, 0);
    el.focus();
    el.setSelectionRange(start, start + lines[error.line - 1].length);
    const lineHeight = parseFloat(getComputedStyle(el).lineHeight) || 18;
    el.scrollTop = Math.max(0, (error.line - 4) * lineHeight);
  }, [error]);
  async function exportYaml() {
    setBusy('Exporting…');
    setError(null);
    try {
      const text = await request('GET', '/config/export', { accept: 'application/yaml' });
      setYaml(text);
      const link = URL.createObjectURL(new Blob([text], { type: 'application/yaml' }));
      setUrl(link);
      setNotice('Exported: download the file below, or edit it here and import it.');
    } catch (e) { setError({ message: e.message }); } finally { setBusy(''); }
  }
  async function importYaml(e) {
    e.preventDefault();
    setBusy('Importing…');
    setError(null);
    setNotice('');
    try {
      const r = await request('POST', '/config/import', { body: yaml, raw: true, contentType: 'application/yaml' });
      const counts = Object.entries(r.counts).map(([k, n]) => `${n} ${k}`).join(', ');
      setNotice(`Imported for ${r.tenant}: ${counts}.`);
    } catch (err) {
      setError({ message: err.message, field: err.field, line: lineOf(yaml, err.field) });
    } finally { setBusy(''); }
  }
  async function readFile(e) {
    const file = e.target.files && e.target.files[0];
    if (file) setYaml(await file.text());
  }
  return html`<h1>Config as code</h1>
    <${Notice} text=${notice} />
    <section class="card" aria-labelledby="export-h">
      <h2 id="export-h">Export</h2>
      <button type="button" onClick=${exportYaml} disabled=${!!busy}>Export YAML</button>
      ${url && html` <a class="button" href=${url} download=${`${tenant}-config.yaml`}>Download ${tenant}-config.yaml</a>`}
    </section>
    <form class="card" onSubmit=${importYaml} aria-labelledby="import-h">
      <h2 id="import-h">Import</h2>
      <div class="field">
        <label for="cfg-file">YAML file</label>
        <input id="cfg-file" type="file" accept=".yaml,.yml,.json,application/yaml" onChange=${readFile} />
      </div>
      <div class="field">
        <label for="cfg-yaml">Bundle (YAML)</label>
        ${error && html`<p class="error" id="cfg-yaml-err" role="alert">${error.field ? html`<code>${error.field}</code>${error.line ? ` (line ${error.line})` : ''}: ` : ''}${error.field ? error.message.replace(`${error.field}: `, '') : error.message}</p>`}
        <textarea id="cfg-yaml" ref=${area} rows="16" spellcheck="false" value=${yaml} onInput=${(e) => setYaml(e.target.value)}
          aria-invalid=${error && error.field ? 'true' : undefined} aria-describedby=${error ? 'cfg-yaml-err' : undefined}></textarea>
      </div>
      ${canWrite && html`<button type="submit" class="primary" disabled=${!!busy || !yaml}>Import</button>`}
      <${Busy} on=${!!busy} label=${busy} />
    </form>`;
}
