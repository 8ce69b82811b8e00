import { imagesOf, isRefusal, revisionOf, violationsOf } from '../../../src/audit/fields.ts';
import { esc, sortableTable } from '../../../src/audit/report-html.ts';
import type { ReasonCounts, ReportChain, ReportInput, RevisionSpan } from './report-model.ts';
import type { AuditRecord } from '../../../src/audit/record.ts';

/** At most this many rows in the denials-and-errors table; the page says when there are more. */
export const MAX_REFUSALS = 20_000;

/** The verification sentence of one chain: intact with its checkpoint coverage, or where it broke. */
function chainStatus(c: ReportChain): string {
  const v = c.log.report;
  if (!v.ok)
    return `<span class="bad">BROKEN at seq ${v.firstBad?.seq ?? '?'}</span>: ${esc(v.firstBad?.reason ?? '')} (${esc(v.firstBad?.where ?? '')})`;
  const cp = v.checkpoints;
  const signed =
    cp.verified > 0
      ? `${cp.verified} of ${cp.total} signed checkpoints verified, records 1..${cp.lastSeq} covered`
      : cp.total > 0
        ? `${cp.total} checkpoint(s), signatures not checked (no --public-key)`
        : 'no checkpoint: nothing signed vouches for any record';
  const tail =
    cp.uncovered !== null ? `; records ${cp.uncovered.from}..${cp.uncovered.to} not covered by a checkpoint` : '';
  return `<span class="ok">Intact</span>: ${v.records} records; ${signed}${tail}`;
}

/** How strongly the chains read are vouched for: the page's headline and the CLI's summary line. */
export interface ReportVerdict {
  readonly level: 'ok' | 'warn' | 'bad';
  /** The headline as plain text (escape it before writing it into HTML). */
  readonly text: string;
}

/**
 * The verdict over the chains a report read. It says no more than `audit verify` would with the
 * same key: "Intact" only when checkpoint signatures were checked and no finding is stated (no
 * checkpoint at all, a tail beyond verify's limits); those, or no key given, are a warning that
 * names what is not vouched for — a log rewritten and re-chained past its checkpoints reads intact.
 * A broken chain (or a key mix-up) is `bad`. `used`: the records counted.
 */
export function reportVerdict(input: Pick<ReportInput, 'chains' | 'findings'>, used: number): ReportVerdict {
  const broken = input.chains.filter((c) => !c.log.report.ok);
  if (broken.length > 0)
    return {
      level: 'bad',
      text: `BROKEN at seq ${broken.map((c) => `${c.log.report.firstBad?.seq ?? '?'} (${c.dir})`).join(', ')}: ${broken.length} of ${input.chains.length} chain(s) broken.`,
    };
  const cps = input.chains.reduce(
    (acc, c) => ({ v: acc.v + c.log.report.checkpoints.verified, t: acc.t + c.log.report.checkpoints.total }),
    { v: 0, t: 0 },
  );
  const last = Math.max(0, ...input.chains.map((c) => c.log.report.checkpoints.lastSeq));
  const chains = `${used} records in ${input.chains.length} chain(s)`;
  const codes = [...new Set(input.findings.map((f) => f.code))];
  const warn = (text: string): ReportVerdict => ({ level: 'warn', text });
  if (codes.length > 0)
    return warn(
      `Hash chain intact, NOT fully vouched for: ${codes.join(', ')} (below). ${chains}; ${cps.v} of ${cps.t} signed checkpoints verified.`,
    );
  if (cps.t === 0)
    return warn(
      `Hash chain intact, NOT vouched for: no signed checkpoint. ${chains}; a rewritten, re-chained log reads the same.`,
    );
  if (cps.v === 0)
    return warn(
      `Hash chain intact; checkpoint signatures NOT checked (no --public-key). ${chains}; a rewritten, re-chained log reads the same.`,
    );
  return {
    level: 'ok',
    text: `Intact: ${chains}, chain verified; ${cps.v} of ${cps.t} signed checkpoints verified (last at seq ${last}).`,
  };
}

function periodOf(input: ReportInput): string {
  const first = input.records[0]?.record.timestamp;
  const last = input.records.at(-1)?.record.timestamp;
  return first === undefined ? 'no records' : `${esc(first)} — ${esc(last ?? first)}`;
}

/** The page head: period, runners, record count, each chain's verification and coverage, the findings, a banner for a break. */
export function header(input: ReportInput): string {
  const broken = input.chains.filter((c) => !c.log.report.ok);
  const used = input.records.length;
  const runners = [...new Set(input.records.map((e) => e.record.runner))].sort();
  const verdict = reportVerdict(input, used);
  const status = `<p class="${verdict.level}" id="verification-status">${esc(verdict.text)}</p>`;
  const banner = broken
    .map((c) => {
      const bad = c.log.report.firstBad;
      if (input.findings.some((f) => f.code === 'AUDIT_KEY_MISMATCH' && f.dir === c.dir))
        return `<div class="banner bad" id="broken-${input.chains.indexOf(c)}">${esc(c.dir)} is NOT VERIFIED: the key given did not sign its checkpoints (AUDIT_KEY_MISMATCH, below). No record of it is counted or shown; give the public key of the signing Secret that wrote them.</div>`;
      return `<div class="banner bad" id="broken-${input.chains.indexOf(c)}">${esc(c.dir)} is BROKEN at seq ${bad?.seq ?? '?'}: ${esc(bad?.reason ?? '')}. Everything on this page counts only the ${c.log.records.length} record(s) before the break; the ${c.log.untrusted} line(s) from seq ${bad?.seq ?? '?'} on are not trusted and not counted or shown.</div>`;
    })
    .join('\n');
  const chainRows = input.chains
    .map(
      (c, i) =>
        `<tr id="chain-${i}"><td>${esc(c.dir)}</td><td>${chainStatus(c)}</td><td>${c.log.records.length}</td><td>${c.log.untrusted}</td><td>${esc([...new Set(c.checkpoints.map((p) => String(p?.kid)))].join(', '))}</td><td><code>${esc(c.log.report.head)}</code></td></tr>`,
    )
    .join('');
  const findings = input.findings
    .map((f) => `<li class="${f.fails ? 'bad' : 'warn'}"><code>${esc(f.code)}</code> ${esc(f.message)}</li>`)
    .join('');
  return `<h1>${esc(input.title)}</h1>
${banner}
<section><h2>Summary</h2>${status}
<table id="summary"><tr><th>Period</th><td>${periodOf(input)}</td></tr><tr><th>Runners</th><td>${esc(runners.join(', ') || 'none')}</td></tr><tr><th>Records</th><td>${used}</td></tr></table>
<h3>Chains</h3><table id="chains"><thead><tr><th>chain</th><th>verification and checkpoint coverage</th><th>records used</th><th>untrusted lines</th><th>checkpoint key ids</th><th>head</th></tr></thead><tbody>${chainRows}</tbody></table>
${findings !== '' ? `<ul id="findings">${findings}</ul>` : ''}</section>`;
}

/** The policy revisions in force over time. */
export function revisions(spans: readonly RevisionSpan[]): string {
  if (spans.length === 0)
    return '<section><h2>Policy revisions in force</h2><p class="empty" id="revisions-empty">no policy decision</p></section>';
  const rows = spans
    .map(
      (s) =>
        `<tr><td><code>${esc(s.revision)}</code></td><td>${esc(s.from)}</td><td>${esc(s.to)}</td><td>${esc(s.runners.join(', '))}</td><td>${s.decisions}</td><td>${s.denials}</td></tr>`,
    )
    .join('');
  return `<section><h2>Policy revisions in force</h2><table id="revisions"><thead><tr><th>revision</th><th>first decision</th><th>last decision</th><th>runners</th><th>decisions</th><th>denials</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

/** Codes and messages of a refusal: its own code, then each violation with its policy and action. */
function reasonsCell(r: AuditRecord): string {
  const own = r.code !== undefined ? [`<li><code>${esc(r.code)}</code> ${esc(r.message)}</li>`] : [];
  const vs = violationsOf(r).map(
    (v) => `<li><code>${esc(v.code)}</code> (${esc(v.policy)}, ${esc(v.action)}) ${esc(v.message)}</li>`,
  );
  return `<ul>${[...own, ...vs].join('')}</ul>`;
}

/** Every denial and error, one row each (a denial is one row, with its violations inside it). */
export function refusals(input: ReportInput, runIndex: ReadonlyMap<string, number>): string {
  const many = input.chains.length > 1;
  const all = input.records.filter((e) => isRefusal(e.record));
  const rows = all.slice(0, MAX_REFUSALS).map(({ record: r, chain }) => {
    const w = r.workflow;
    const run = w !== undefined ? runIndex.get(JSON.stringify([w.id, w.runId])) : undefined;
    const wf = w === undefined ? '<span class="note">(before verification)</span>' : esc(`${w.id} / ${w.runId}`);
    return `<tr class="outcome-${esc(r.outcome)}"><td data-sort="${esc(r.timestamp)}">${esc(r.timestamp)}</td>${many ? `<td>${esc(chain)}</td>` : ''}<td>${esc(r.runner)}</td><td>${esc(r.outcome)}</td><td>${run !== undefined ? `<a href="#run-${run}">${wf}</a>` : wf}</td><td>${esc(r.stage)}${r.step !== undefined ? ` / ${esc(r.step)}` : ''}</td><td>${esc(imagesOf(r).join(' '))}</td><td>${reasonsCell(r)}</td><td><code>${esc(revisionOf(r))}</code></td><td><code>${esc(r.decision_id)}</code></td></tr>`;
  });
  const head = [
    'time',
    ...(many ? ['chain'] : []),
    'runner',
    'outcome',
    'workflow / run',
    'stage / step',
    'image',
    'codes and messages',
    'revision',
    'decision id',
  ];
  if (rows.length === 0)
    return '<section><h2>Denials and errors</h2><p class="empty" id="refusals-empty">none</p></section>';
  const cut =
    all.length > rows.length
      ? `<p class="bad" id="refusals-cut">The first ${rows.length} of ${all.length} denials and errors are listed (the page stays usable): <code>audit query --outcome deny</code> and <code>--outcome error</code> export every one.</p>`
      : '';
  return `<section><h2>Denials and errors (${all.length})</h2>${cut}${sortableTable('refusals', 'denials and errors', head, rows)}</section>`;
}

/** Top reasons per policy (each refusal once per reason). */
export function reasons(byPolicy: ReadonlyMap<string, ReasonCounts>): string {
  if (byPolicy.size === 0)
    return '<section><h2>Top reasons per policy</h2><p class="empty" id="reasons-empty">none</p></section>';
  const groups = [...byPolicy.entries()]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([policy, codes]) => {
      const rows = [...codes.entries()]
        .sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0]))
        .slice(0, 10)
        .map(([code, c]) => `<tr><td><code>${esc(code)}</code></td><td>${c.count}</td><td>${esc(c.message)}</td></tr>`)
        .join('');
      return `<h3>${esc(policy)}</h3><table class="reasons"><thead><tr><th>reason</th><th>refusals</th><th>for example</th></tr></thead><tbody>${rows}</tbody></table>`;
    })
    .join('\n');
  return `<section id="reasons"><h2>Top reasons per policy</h2>${groups}</section>`;
}
