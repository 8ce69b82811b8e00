import { imagesOf, revisionOf, violationsOf } from './fields.ts';
import { esc, sortableTable } from './report-html.ts';
import { MAX_LISTED_BYTES, MAX_REFUSALS } from './report-limits.ts';
import type { RunState } from './report-runs.ts';
import type { AuditRecord } from './record.ts';

/** Codes and messages of a refusal: its own code, then each violation with its policy and action. */
function reasonsCell(r: AuditRecord): string {
  const own = r.code !== undefined ? [`<li><code>${esc(r.code)}</code> ${esc(r.message)}</li>`] : [];
  const vs = violationsOf(r).map(
    (v) => `<li><code>${esc(v.code)}</code> (${esc(v.policy)}, ${esc(v.action)}) ${esc(v.message)}</li>`,
  );
  return `<ul>${[...own, ...vs].join('')}</ul>`;
}

/**
 * The denials and errors, counted in timeline order: all counted, the first MAX_REFUSALS listed
 * as table rows (one row each, a denial with its violations inside it), within MAX_LISTED_BYTES.
 */
export class RefusalList {
  count = 0;
  readonly rows: string[] = [];
  private bytes = 0;
  private overBytes = false;
  /** More than one chain: each row names its chain. */
  readonly many: boolean;
  constructor(many: boolean) {
    this.many = many;
  }

  /** One refusal; `run`: its run when the page draws it (the row links to it). */
  add(r: AuditRecord, chain: string, run: RunState | undefined): void {
    this.count++;
    if (this.rows.length >= MAX_REFUSALS || this.overBytes) return;
    const w = r.workflow;
    const wf = w === undefined ? '<span class="note">(before verification)</span>' : esc(`${w.id} / ${w.runId}`);
    const row = `<tr class="outcome-${esc(r.outcome)}"><td data-sort="${esc(r.timestamp)}">${esc(r.timestamp)}</td>${this.many ? `<td>${esc(chain)}</td>` : ''}<td>${esc(r.runner)}</td><td>${esc(r.outcome)}</td><td>${run !== undefined ? `<a href="#run-${run.index}">${wf}</a>` : wf}</td><td>${esc(r.stage)}${r.step !== undefined ? ` / ${esc(r.step)}` : ''}</td><td>${esc(imagesOf(r).join(' '))}</td><td>${reasonsCell(r)}</td><td><code>${esc(revisionOf(r))}</code></td><td><code>${esc(r.decision_id)}</code></td></tr>`;
    if (this.bytes + row.length > MAX_LISTED_BYTES) {
      this.overBytes = true;
      return;
    }
    this.bytes += row.length;
    this.rows.push(row);
  }

  capped(): string[] {
    return this.overBytes
      ? [
          `denials and errors: the rows listed stop at ${MAX_LISTED_BYTES} bytes of markup (${this.rows.length} of ${this.count})`,
        ]
      : [];
  }
}

/** Every denial and error, one row each (a denial is one row, with its violations inside it). */
export function refusals(list: RefusalList): string {
  const head = [
    'time',
    ...(list.many ? ['chain'] : []),
    'runner',
    'outcome',
    'workflow / run',
    'stage / step',
    'image',
    'codes and messages',
    'revision',
    'decision id',
  ];
  const { rows, count } = list;
  if (count === 0) return '<section><h2>Denials and errors</h2><p class="empty" id="refusals-empty">none</p></section>';
  const cut =
    count > rows.length
      ? `<p class="bad" id="refusals-cut">The first ${rows.length} of ${count} denials and errors are listed (the page stays usable): <code>audit query --outcome deny</code> and <code>--outcome error</code> export every one.</p>`
      : '';
  return `<section><h2>Denials and errors (${count})</h2>${cut}${sortableTable('refusals', 'denials and errors', head, rows)}</section>`;
}
