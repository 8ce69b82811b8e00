import { isWaitRecord } from '../../../src/errors/waits.ts';
import { isInterim, revisionOf, violationsOf } from '../../../src/audit/fields.ts';
import { esc } from '../../../src/audit/report-html.ts';
import type { RunView } from './report-model.ts';
import type { AuditRecord } from '../../../src/audit/record.ts';

/** At most this many runs are drawn step by step (the page stays printable); the rest are counted and named. */
export const MAX_RUNS = 1000;
/** A patch longer than this is cut (the whole patch is in the record: `audit query --run`). */
const MAX_PATCH = 20_000;

function patchText(patch: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(patch, null, 1) ?? '';
  } catch {
    text = '(not JSON)';
  }
  return text.length > MAX_PATCH ? `${text.slice(0, MAX_PATCH)}\n… (cut at ${MAX_PATCH} characters)` : text;
}

/** What a stage's record adds to the drill-down: violations, the patch, the pod's end. */
function stageDetail(r: AuditRecord): string {
  switch (r.stage) {
    case 'evaluate': {
      const vs = violationsOf(r)
        .map((v) => `<li><code>${esc(v.code)}</code> (${esc(v.policy)}, ${esc(v.action)}) ${esc(v.message)}</li>`)
        .join('');
      return ` revision <code>${esc(revisionOf(r))}</code>${vs !== '' ? `<ul>${vs}</ul>` : ''}`;
    }
    case 'mutate':
      return r.patch !== undefined ? `<pre class="patch">${esc(patchText(r.patch))}</pre>` : '';
    case 'create':
    case 'finish': {
      const p = r.pod;
      if (p === undefined) return '';
      const end = [
        p.phase !== undefined ? `phase ${p.phase}` : '',
        p.exitCode !== undefined ? `exit code ${p.exitCode}` : '',
        p.reason !== undefined ? `reason ${p.reason}` : '',
      ].filter((s) => s !== '');
      return ` pod <code>${esc(`${p.namespace}/${p.name}`)}</code>${end.length > 0 ? ` (${esc(end.join(', '))})` : ''}`;
    }
    case 'receive':
    case 'verify':
    case 'validate':
    case 'claim':
    case 'cancel':
      return '';
  }
  return ''; // a stage the appender never writes (the volume was written by hand before a break)
}

function item(r: AuditRecord, chain: string, many: boolean): string {
  const code = r.code !== undefined ? ` <code>${esc(r.code)}</code>` : '';
  return `<li class="outcome-${esc(r.outcome)}"><b>${esc(r.stage)}</b> <span class="${r.outcome === 'allow' || r.outcome === 'success' ? 'ok' : 'bad'}">${esc(r.outcome)}</span>${code} ${esc(r.timestamp)}${r.step !== undefined ? ` step ${esc(r.step)}` : ''}${many ? ` [${esc(chain)} seq ${r.seq}]` : ` [seq ${r.seq}]`}: ${esc(r.message)}${stageDetail(r)}</li>`;
}

/**
 * One summary word for a run: denied, error, failed, succeeded, waiting, or in progress. Records
 * that end nothing (src/audit/fields.ts `isInterim`: a create that waits, an attempt that is retried)
 * are not taken for the run's outcome (red team 13, finding 2: a run that waited once, or whose
 * first attempt failed, and then succeeded read "error" or "failed"); a run with a step whose latest
 * create record is a wait (src/errors/waits.ts `isWaitRecord`), and nothing refused, is waiting.
 */
export function verdict(run: RunView): string {
  const ending = run.records.filter((e) => !isInterim(e.record));
  const outcomes = new Set(ending.map((e) => e.record.outcome));
  if (outcomes.has('deny')) return 'denied';
  if (outcomes.has('error')) return 'error';
  if (outcomes.has('failure')) return 'failed';
  const lastCreate = new Map<string, AuditRecord>();
  for (const { record } of run.records)
    if (record.stage === 'create' && record.step !== undefined) lastCreate.set(record.step, record);
  if ([...lastCreate.values()].some(isWaitRecord)) return 'waiting';
  return run.records.some((e) => e.record.stage === 'finish') ? 'succeeded' : 'in progress';
}

/** Each run step by step: verify → validate → claim → evaluate → mutate (patch) → create → finish. */
export function runs(list: readonly RunView[], many: boolean): string {
  if (list.length === 0) return '<section><h2>Runs</h2><p class="empty" id="runs-empty">none</p></section>';
  const shown = list.slice(0, MAX_RUNS);
  const blocks = shown
    .map((run, i) => {
      const first = run.records[0]?.record;
      const v = verdict(run);
      return `<details id="run-${i}" class="run"><summary><b>${esc(run.workflow)}</b> / ${esc(run.runId)} — <span class="${v === 'succeeded' ? 'ok' : v === 'in progress' || v === 'waiting' ? 'note' : 'bad'}">${v}</span>, ${run.records.length} record(s) from ${esc(first?.timestamp ?? '')} (${esc(first?.runner ?? '')})</summary><ol class="steps">${run.records.map((e) => item(e.record, e.chain, many)).join('')}</ol></details>`;
    })
    .join('\n');
  const more =
    list.length > shown.length
      ? `<p class="note" id="runs-more">${list.length - shown.length} more run(s) not drawn: see them with <code>audit query --run &lt;id&gt;</code>.</p>`
      : '';
  return `<section><h2>Runs (${list.length})</h2>${blocks}${more}</section>`;
}
