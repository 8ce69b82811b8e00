import { codesOf, imagesOf, policiesOf } from './query.ts';
import type { AuditRecord } from './record.ts';
import type { ChainReport } from './chain-check.ts';

/** Escapes text for HTML (every value in the report comes from the log and is untrusted). */
const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function top(counts: Map<string, number>, n = 10): [string, number][] {
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, n);
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** A horizontal bar chart as inline SVG. */
function bars(id: string, title: string, data: [string, number][], colour: string): string {
  if (data.length === 0) return `<section><h2>${esc(title)}</h2><p class="empty" id="${id}-empty">none</p></section>`;
  const max = Math.max(...data.map(([, v]) => v));
  const rowH = 24;
  const width = 640;
  const label = 260;
  const rows = data
    .map(([k, v], i) => {
      const w = Math.max(2, Math.round(((width - label - 60) * v) / max));
      return `<g transform="translate(0,${i * rowH})"><text x="${label - 8}" y="16" text-anchor="end">${esc(k)}</text><rect class="bar" x="${label}" y="4" width="${w}" height="16" fill="${colour}"><title>${esc(k)}: ${v}</title></rect><text x="${label + w + 6}" y="16">${v}</text></g>`;
    })
    .join('');
  return `<section><h2>${esc(title)}</h2><svg id="${id}" role="img" aria-label="${esc(title)}" width="${width}" height="${data.length * rowH + 8}" viewBox="0 0 ${width} ${data.length * rowH + 8}">${rows}</svg></section>`;
}

const OUTCOME_COLOURS: Record<string, string> = {
  allow: '#2e7d32',
  success: '#66bb6a',
  deny: '#c62828',
  failure: '#ef6c00',
  error: '#6a1b9a',
};

/** Decisions over time: stacked columns per time bucket, one colour per outcome. */
function timeline(records: readonly AuditRecord[]): string {
  if (records.length === 0)
    return '<section><h2>Decisions over time</h2><p class="empty" id="timeline-empty">none</p></section>';
  const times = records.map((r) => Date.parse(r.timestamp)).filter((t) => Number.isFinite(t));
  const from = Math.min(...times);
  const to = Math.max(...times);
  const buckets = 24;
  const span = Math.max(1, to - from);
  const counts = Array.from({ length: buckets }, () => new Map<string, number>());
  for (const r of records) {
    const t = Date.parse(r.timestamp);
    if (!Number.isFinite(t)) continue;
    bump(counts[Math.min(buckets - 1, Math.floor(((t - from) / span) * buckets))] as Map<string, number>, r.outcome);
  }
  const max = Math.max(1, ...counts.map((m) => [...m.values()].reduce((a, b) => a + b, 0)));
  const W = 640;
  const H = 200;
  const colW = W / buckets;
  const cols = counts
    .map((m, i) => {
      let y = H;
      return Object.keys(OUTCOME_COLOURS)
        .map((outcome) => {
          const n = m.get(outcome) ?? 0;
          if (n === 0) return '';
          const h = (n / max) * (H - 10);
          y -= h;
          return `<rect class="bar" x="${(i * colW + 1).toFixed(1)}" y="${y.toFixed(1)}" width="${(colW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${OUTCOME_COLOURS[outcome] ?? '#999'}"><title>${outcome}: ${n}</title></rect>`;
        })
        .join('');
    })
    .join('');
  const legend = Object.entries(OUTCOME_COLOURS)
    .map(([o, c]) => `<span class="key"><i style="background:${c}"></i>${o}</span>`)
    .join(' ');
  return `<section><h2>Decisions over time</h2><p class="range">${esc(new Date(from).toISOString())} — ${esc(new Date(to).toISOString())}</p><svg id="timeline" role="img" aria-label="Decisions over time" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${cols}</svg><p>${legend}</p></section>`;
}

/**
 * One self-contained HTML page (no scripts, no network): a verification summary, decisions over
 * time, top deny codes, top images, violations per policy. Charts are inline SVG. `records` are
 * the trusted ones (before the first break); `untrusted` counts the lines after it, which the page
 * names and never counts.
 */
export function renderReport(
  records: readonly AuditRecord[],
  verification: ChainReport,
  title: string,
  untrusted = 0,
): string {
  const denyCodes = new Map<string, number>();
  const images = new Map<string, number>();
  const policies = new Map<string, number>();
  const outcomes = new Map<string, number>();
  for (const r of records) {
    bump(outcomes, r.outcome);
    if (r.outcome === 'deny' || r.outcome === 'error' || r.outcome === 'failure')
      for (const c of codesOf(r)) bump(denyCodes, c);
    if (r.stage === 'evaluate') {
      for (const i of imagesOf(r)) bump(images, i);
      for (const p of policiesOf(r)) bump(policies, p);
    }
  }
  const v = verification;
  const status = v.ok
    ? `<p class="ok" id="verification-status">Intact: ${v.records} records, chain verified; ${v.checkpoints.verified} of ${v.checkpoints.total} signed checkpoints verified (last at seq ${v.checkpoints.lastSeq}).</p>`
    : `<p class="bad" id="verification-status">BROKEN at seq ${v.firstBad?.seq ?? '?'}: ${esc(v.firstBad?.reason ?? '')} (${esc(v.firstBad?.where ?? '')}).</p><p class="bad" id="untrusted">Everything below counts only the ${records.length} record(s) before the break; the ${untrusted} line(s) from seq ${v.firstBad?.seq ?? '?'} on are not trusted and not counted.</p>`;
  const summary = [...outcomes.entries()]
    .map(([k, n]) => `<td>${esc(k)}</td><td>${n}</td>`)
    .map((r) => `<tr>${r}</tr>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:760px}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
.ok{color:#1b5e20;font-weight:600}.bad{color:#b71c1c;font-weight:600}
svg text{font-size:12px;fill:#333}.empty,.range{color:#777}
.key i{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
table{border-collapse:collapse}td{padding:2px 10px;border-bottom:1px solid #eee}
</style></head><body>
<h1>${esc(title)}</h1>
<section><h2>Verification</h2>${status}<p>Head: <code>${esc(v.head)}</code></p></section>
<section><h2>Decisions</h2><table id="outcomes">${summary}</table></section>
${timeline(records)}
${bars('deny-codes', 'Top deny and error codes', top(denyCodes), '#c62828')}
${bars('images', 'Top images evaluated', top(images), '#1565c0')}
${bars('policies', 'Violations per policy', top(policies), '#ef6c00')}
<footer><p>Generated by kubiya-runner audit report at ${esc(new Date().toISOString())}.</p></footer>
</body></html>
`;
}
