// The tenant's config records in one load, and the labels every page shows for them.
import { listAll } from './api.js';
import { byId } from './ui.js';

export async function loadCatalog(...names) {
  const all = names.length ? names : ['apps', 'assistants', 'providers', 'models', 'credentials', 'tools'];
  const lists = await Promise.all(all.map((n) => listAll(`/${n}`)));
  const cat = Object.fromEntries(all.map((n, i) => [n, lists[i]]));
  for (const n of all) cat[`${n}ById`] = byId(cat[n]);
  return cat;
}

export function providerLabel(p) {
  return p ? (p.display_name || p.name || p.id) : '?';
}

export function modelLabel(cat, m) {
  if (!m) return '—';
  const p = cat.providersById[m.provider_id];
  return `${providerLabel(p)} · ${m.display_name || m.name}`;
}

export function modelOptions(cat, { blank } = {}) {
  const opts = cat.models
    .filter((m) => m.is_active && (cat.providersById[m.provider_id] || {}).is_active !== false)
    .map((m) => [m.id, modelLabel(cat, m)]);
  return blank ? [['', blank], ...opts] : opts;
}

export function credentialOptions(cat, providerId, { blank = 'No key' } = {}) {
  return [['', blank], ...cat.credentials
    .filter((c) => c.is_active && (!providerId || c.provider_id === providerId))
    .map((c) => [c.id, `${c.name || c.id}${c.last4 ? ` (…${c.last4})` : ''}`])];
}

// The key an assistant should use with `modelId`: its own if that matches the provider,
// else the provider's first active key (switching provider is then one choice).
export function credentialFor(cat, modelId, currentCredentialId) {
  const model = cat.modelsById[modelId];
  if (!model) return null;
  const current = cat.credentialsById[currentCredentialId];
  if (current && current.is_active && current.provider_id === model.provider_id) return current.id;
  const first = cat.credentials.find((c) => c.is_active && c.provider_id === model.provider_id);
  return first ? first.id : null;
}
