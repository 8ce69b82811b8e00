import { createHash } from 'node:crypto';
import { revealHiddenInHtml } from '../units/text.ts';

/**
 * The page shell of `audit report`: escaping, the one inline script and the one stylesheet, and a
 * Content-Security-Policy that allows exactly those two (by hash) and nothing else: no remote
 * load of any kind, no other script, no form, no base URL. Every value on the page comes from the
 * log, whose strings were chosen by whoever signed a workflow: they are escaped where they are
 * written, and the CSP would stop a script that slipped through.
 */

/**
 * Escapes text for HTML element content and double- or single-quoted attribute values, and writes
 * every character a reader cannot see or that reorders the text (units/text.ts: bidi overrides,
 * zero-width and tag characters, controls other than tab and line breaks) as a visible `\u{…}`.
 */
export const esc = (s: string): string =>
  revealHiddenInHtml(
    s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c),
  );

/**
 * Sorting and filtering of the tables marked `data-sortable` (a click on a column's button sorts
 * by it, again reverses; the search box beside a table hides the rows without its text), a run's
 * drill-down opened when a link points at it, and every drill-down opened before printing. It reads only textContent and data attributes and writes only
 * `hidden`, order and aria attributes: it never turns text into markup.
 */
const SCRIPT = `(function () {
  document.querySelectorAll('table[data-sortable]').forEach(function (table) {
    var body = table.tBodies[0];
    var filter = document.getElementById(table.id + '-filter');
    var shown = document.getElementById(table.id + '-shown');
    function apply() {
      var q = filter ? filter.value.toLowerCase() : '';
      var n = 0;
      Array.prototype.forEach.call(body.rows, function (tr) {
        var hit = tr.textContent.toLowerCase().indexOf(q) >= 0;
        tr.hidden = !hit;
        if (hit) n++;
      });
      if (shown) shown.textContent = n + ' of ' + body.rows.length + ' shown';
    }
    if (filter) filter.addEventListener('input', apply);
    table.querySelectorAll('thead th').forEach(function (th, col) {
      var button = th.querySelector('button');
      if (!button) return;
      button.addEventListener('click', function () {
        var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
        table.querySelectorAll('thead th').forEach(function (o) { o.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
        var key = function (tr) { var c = tr.cells[col]; return c ? (c.getAttribute('data-sort') || c.textContent) : ''; };
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) { return dir * key(a).localeCompare(key(b), undefined, { numeric: true }); });
        rows.forEach(function (tr) { body.appendChild(tr); });
      });
    });
    apply();
  });
  function openTarget() {
    var d = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    if (d && d.tagName === 'DETAILS') d.open = true;
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
  window.addEventListener('beforeprint', function () {
    document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  });
})();`;

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}h3{font-size:1em}
.ok{color:#1b5e20;font-weight:600}.bad{color:#b71c1c;font-weight:600}.warn{color:#8d5b00;font-weight:600}
.banner{border:2px solid #b71c1c;background:#ffebee;padding:.6em 1em;margin:1em 0}
svg text{font-size:12px;fill:#333}.empty,.range,.note{color:#666}
.key i{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
.k-allow{background:#2e7d32}.k-success{background:#66bb6a}.k-deny{background:#c62828}.k-failure{background:#ef6c00}.k-error{background:#6a1b9a}
table{border-collapse:collapse;margin:.4em 0}th,td{padding:2px 8px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer}
th[aria-sort=ascending] button::after{content:" \\2191"}th[aria-sort=descending] button::after{content:" \\2193"}
td{overflow-wrap:anywhere}code,pre{font:12px/1.3 ui-monospace,monospace}pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6;padding:.4em;margin:.2em 0}
details{margin:.3em 0}summary{cursor:pointer}ol.steps li{margin:.3em 0}
@media print{.controls{display:none}body{margin:0;max-width:none}details{page-break-inside:avoid}}`;

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The CSP of the page: only its own script and stylesheet (by hash), nothing remote, nothing else. */
export const CSP = `default-src 'none'; script-src ${hash(SCRIPT)}; style-src ${hash(STYLE)}; img-src 'none'; base-uri 'none'; form-action 'none'`;

/** The whole document around `body` (markup already escaped by its makers). */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="referrer" content="no-referrer">
<title>${esc(title)}</title>
<style>${STYLE}</style></head><body>
${body}
<script>${SCRIPT}</script>
</body></html>
`;
}

/** A table the page script can sort (by any column with a button) and filter (with the box above it). */
export function sortableTable(id: string, label: string, head: readonly string[], rows: readonly string[]): string {
  const ths = head.map((h) => `<th scope="col"><button type="button">${esc(h)}</button></th>`).join('');
  return `<p class="controls"><label>Filter ${esc(label)}: <input type="search" id="${id}-filter" autocomplete="off"></label> <span id="${id}-shown"></span></p>
<table id="${id}" data-sortable><thead><tr>${ths}</tr></thead><tbody>${rows.join('\n')}</tbody></table>`;
}
