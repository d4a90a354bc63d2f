// Usage per day as a chart (tokens, requests, cost), filterable by app, assistant and
// dates; and the audit log as a table filterable by user and target.
import { html, useState, useEffect, useRef } from '../../vendor/preact-htm.js';
import uPlot from '../../vendor/uplot.js';
import { api, listAll } from '../api.js';
import { useForm, Field, FormError, Busy, Table, useLoad, Loading, when } from '../ui.js';
import { loadCatalog } from '../catalog.js';

const DAY = 86400000;
const iso = (d) => d.toISOString().slice(0, 10);

function perDay(rows, from, to) {
  const days = new Map();
  for (let t = Date.parse(from); t <= Date.parse(to); t += DAY) days.set(iso(new Date(t)), { tokens: 0, requests: 0, cost: 0 });
  for (const r of rows) {
    const d = days.get(r.day) || { tokens: 0, requests: 0, cost: 0 };
    d.tokens += r.input_tokens + r.output_tokens;
    d.requests += r.requests;
    d.cost += r.cost;
    days.set(r.day, d);
  }
  return [...days.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
}

function Chart({ series }) {
  const box = useRef(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const xs = series.map(([day]) => Date.parse(day) / 1000);
    const data = [xs, series.map(([, d]) => d.tokens), series.map(([, d]) => d.requests), series.map(([, d]) => d.cost)];
    const width = Math.max(300, el.clientWidth - 8);
    const plot = new uPlot({
      width, height: 260,
      scales: { x: { time: true }, n: {}, usd: {} },
      axes: [{}, { scale: 'n' }, { scale: 'usd', side: 1, grid: { show: false }, values: (u, v) => v.map((x) => `$${x}`) }],
      series: [
        { label: 'Day' },
        { label: 'Tokens', scale: 'n', stroke: '#1f5fbf', width: 2 },
        { label: 'Requests', scale: 'n', stroke: '#2b7a3d', width: 2 },
        { label: 'Cost ($)', scale: 'usd', stroke: '#a24d00', width: 2, value: (u, v) => (v === null ? '—' : `$${v.toFixed(4)}`) },
      ],
    }, data, el);
    return () => plot.destroy();
  }, [series]);
  return html`<div class="chart" ref=${box} role="img" aria-label="Tokens, requests and cost per day (the same figures are in the table below)"></div>`;
}

function UsagePanel({ cat }) {
  const today = new Date();
  const form = useForm({ app_id: '', assistant_id: '', from: iso(new Date(today - 29 * DAY)), to: iso(today) });
  const [result, setResult] = useState(null);
  async function load(e) {
    if (e) e.preventDefault();
    const v = form.values;
    const q = new URLSearchParams({ from: v.from, to: v.to, limit: '200' });
    if (v.app_id) q.set('app_id', v.app_id);
    if (v.assistant_id) q.set('assistant_id', v.assistant_id);
    const r = await form.submit(async () => {
      const first = await api.get(`/usage?${q}`);
      const items = [...first.items];
      let token = first.next_page_token;
      while (token && items.length < 5000) {
        const page = await api.get(`/usage?${q}&page_token=${encodeURIComponent(token)}`);
        items.push(...page.items);
        token = page.next_page_token;
      }
      return { ...first, items };
    });
    if (r) setResult({ ...r, series: perDay(r.items, r.from, r.to) });
  }
  useEffect(() => { load(); }, []);
  const v = form.values;
  const assistants = cat.assistants.filter((a) => !v.app_id || a.app_id === v.app_id);
  return html`<section class="card" aria-labelledby="usage-h">
    <h2 id="usage-h">Usage</h2>
    <form onSubmit=${load} aria-label="Usage filters">
      <div class="row">
        <${Field} form=${form} prefix="u-" name="app_id" label="App" type="select" options=${[['', 'All apps'], ...cat.apps.map((a) => [a.id, a.name])]} />
        <${Field} form=${form} prefix="u-" name="assistant_id" label="Assistant" type="select" options=${[['', 'All assistants'], ...assistants.map((a) => [a.id, a.name])]} />
        <${Field} form=${form} prefix="u-" name="from" label="From" type="date" />
        <${Field} form=${form} prefix="u-" name="to" label="To" type="date" />
      </div>
      <${FormError} form=${form} />
      <button type="submit" disabled=${form.busy}>Show usage</button>
      <${Busy} on=${form.busy} label="Loading usage…" />
    </form>
    ${result && html`
      <p class="totals" role="status">Total: ${result.totals.requests} requests · ${result.totals.input_tokens + result.totals.output_tokens} tokens · $${result.totals.cost.toFixed(4)}</p>
      <${Chart} series=${result.series} />
      <details><summary>Usage per day as a table</summary>
        <${Table} label="Usage per day" head=${['Day', 'Requests', 'Tokens', 'Cost']}>
          ${result.series.filter(([, d]) => d.requests).map(([day, d]) => html`<tr><td>${day}</td><td>${d.requests}</td><td>${d.tokens}</td><td>$${d.cost.toFixed(4)}</td></tr>`)}
        <//>
      </details>`}
  </section>`;
}

function Audit() {
  const [entries, error, reload, loading] = useLoad(() => listAll('/audit', 1000), []);
  const [user, setUser] = useState('');
  const [target, setTarget] = useState('');
  const shown = (entries || []).filter((e) => (!user || e.actor.toLowerCase().includes(user.toLowerCase()))
    && (!target || `${e.collection}/${e.target_id}`.toLowerCase().includes(target.toLowerCase())));
  return html`<section class="card" aria-labelledby="audit-h">
    <h2 id="audit-h">Audit log</h2>
    <div class="row">
      <div class="field"><label for="audit-user">User</label><input id="audit-user" value=${user} onInput=${(e) => setUser(e.target.value)} /></div>
      <div class="field"><label for="audit-target">Target</label><input id="audit-target" value=${target} onInput=${(e) => setTarget(e.target.value)} /></div>
      <div class="field"><span class="label-spacer" aria-hidden="true"> </span><button type="button" onClick=${reload}>Refresh</button></div>
    </div>
    <${Loading} data=${entries} error=${error} loading=${loading}>${() => html`
      <p class="muted" role="status">${shown.length} of ${entries.length} entries</p>
      <${Table} label="Audit log" head=${['When', 'User', 'Action', 'Target', 'Fields']}>
        ${shown.slice(0, 300).map((e) => html`<tr>
          <td>${when(e.at)}</td><td>${e.actor} <span class="muted">${e.role}</span></td><td>${e.action}</td>
          <td>${e.collection}/${e.target_id}</td><td>${e.fields.join(', ')}</td>
        </tr>`)}
      <//>`}<//>
  </section>`;
}

export function Usage() {
  const [cat, error, , loading] = useLoad(() => loadCatalog('apps', 'assistants'), []);
  return html`<h1>Usage and audit</h1>
    <${Loading} data=${cat} error=${error} loading=${loading}>${() => html`<${UsagePanel} cat=${cat} />`}<//>
    <${Audit} />`;
}
