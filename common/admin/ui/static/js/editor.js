// A code editor without a build step or a CDN: a plain <textarea> (so typing, undo,
// selection, paste and screen readers behave natively) beside a line-number gutter that
// scrolls with it and marks the lines that have problems. Tab is left to move focus, so
// the editor never traps a keyboard user.
import { html, useRef, useEffect } from '../vendor/preact-htm.js';

// The [start, end) offsets of 1-based `line` in `text` (clamped to the last line).
export function lineRange(text, line) {
  const lines = text.split('\n');
  const n = Math.min(Math.max(1, line), lines.length);
  const start = lines.slice(0, n - 1).reduce((sum, l) => sum + l.length + 1, 0);
  return [start, start + lines[n - 1].length];
}

// Select `line` of the textarea (the caret lands on it) and scroll it into view.
export function goToLine(el, line) {
  if (!el) return;
  const [start, end] = lineRange(el.value, line);
  el.focus();
  el.setSelectionRange(start, end);
  const lineHeight = parseFloat(getComputedStyle(el).lineHeight) || 20;
  el.scrollTop = Math.max(0, (line - 4) * lineHeight);
  el.dispatchEvent(new Event('scroll'));
}

// `marks`: {line: message} for the gutter; `areaRef` lets the page move the caret.
export function CodeEditor({ id, value, onInput, marks = {}, rows = 18, areaRef, describedBy, invalid, disabled }) {
  const own = useRef(null);
  const area = areaRef || own;
  const gutter = useRef(null);
  const count = value.split('\n').length;
  const sync = () => { if (gutter.current && area.current) gutter.current.scrollTop = area.current.scrollTop; };
  useEffect(sync, [value]);
  const numbers = [];
  for (let i = 1; i <= count; i += 1) {
    const mark = marks[i];
    numbers.push(html`<div class=${mark ? 'ln bad' : 'ln'} title=${mark || undefined}>${mark ? '● ' : ''}${i}</div>`);
  }
  return html`<div class="code-editor">
    <div class="gutter" ref=${gutter} aria-hidden="true" data-for=${id}>${numbers}<div class="ln-pad"></div></div>
    <textarea id=${id} ref=${area} rows=${rows} wrap="off" spellcheck="false" autocapitalize="off" autocomplete="off"
      value=${value} disabled=${disabled} onInput=${(e) => onInput(e.target.value)} onScroll=${sync}
      aria-invalid=${invalid ? 'true' : undefined} aria-describedby=${describedBy || undefined}></textarea>
  </div>`;
}
