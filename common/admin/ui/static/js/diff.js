// A line diff (longest common subsequence) for system prompts: small texts, no library.
export function lineDiff(before, after) {
  const a = (before || '').split('\n');
  const b = (after || '').split('\n');
  if (a.length * b.length > 250000) return [...a.map((t) => ['-', t]), ...b.map((t) => ['+', t])];
  const n = a.length;
  const m = b.length;
  const L = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      L[i][j] = a[i] === b[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) { out.push([' ', a[i]]); i += 1; j += 1; } else if (L[i + 1][j] >= L[i][j + 1]) { out.push(['-', a[i]]); i += 1; } else { out.push(['+', b[j]]); j += 1; }
  }
  while (i < n) { out.push(['-', a[i]]); i += 1; }
  while (j < m) { out.push(['+', b[j]]); j += 1; }
  return out;
}

const SKIP = new Set(['created_at', 'updated_at']);

export function changedFields(before, after) {
  if (!before) return Object.keys(after || {}).filter((k) => !SKIP.has(k));
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => !SKIP.has(k) && JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}
