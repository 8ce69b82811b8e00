import { esc } from './report-html.ts';
import type { TimelineBuckets } from './report-tally.ts';

/**
 * The report's charts, inline SVG drawn from trusted records only (the caller passes nothing
 * after a break). Labels are escaped: they are codes, images and policy names from the log.
 */

/** The `n` largest counts, ties by name. */
export function top(counts: Map<string, number>, n = 10): [string, number][] {
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, n);
}

/** A horizontal bar chart. */
export function bars(id: string, title: string, data: [string, number][], colour: string): string {
  if (data.length === 0) return `<section><h2>${esc(title)}</h2><p class="empty" id="${id}-empty">none</p></section>`;
  const max = Math.max(...data.map(([, v]) => v));
  const rowH = 24;
  const width = 640;
  const label = 260;
  const rows = data
    .map(([k, v], i) => {
      const w = Math.max(2, Math.round(((width - label - 60) * v) / max));
      const shown = k.length > 40 ? `${k.slice(0, 39)}…` : k;
      return `<g transform="translate(0,${i * rowH})"><text x="${label - 8}" y="16" text-anchor="end">${esc(shown)}</text><rect class="bar" x="${label}" y="4" width="${w}" height="16" fill="${colour}"><title>${esc(k)}: ${v}</title></rect><text x="${label + w + 6}" y="16">${v}</text></g>`;
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

/** Decisions over time: stacked columns per time bucket (counted by a pass of their own), one colour per outcome. */
export function timelineChart(buckets: TimelineBuckets | undefined): string {
  if (buckets === undefined)
    return '<section><h2>Decisions over time</h2><p class="empty" id="timeline-empty">none</p></section>';
  const { from, to, counts } = buckets;
  const max = Math.max(1, ...counts.map((m) => [...m.values()].reduce((a, b) => a + b, 0)));
  const W = 640;
  const H = 200;
  const colW = W / counts.length;
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
  const legend = Object.keys(OUTCOME_COLOURS)
    .map((o) => `<span class="key"><i class="k-${o}"></i>${o}</span>`)
    .join(' ');
  return `<section><h2>Decisions over time</h2><p class="range">${esc(new Date(from).toISOString())} — ${esc(new Date(to).toISOString())}</p><svg id="timeline" role="img" aria-label="Decisions over time" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${cols}</svg><p>${legend}</p></section>`;
}
