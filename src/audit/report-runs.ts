import { isWaitRecord } from '../errors/waits.ts';
import { isInterim, revisionOf, violationsOf } from './fields.ts';
import { esc } from './report-html.ts';
import { runKey, type RunView } from './report-model.ts';
import { MAX_KEYS, MAX_LISTED_BYTES, MAX_RUN_KEYS, MAX_RUNS } from './report-limits.ts';
import type { AuditRecord } from './record.ts';

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

/** A run as the page draws it, counted record by record: its verdict's facts, and its records' markup. */
export interface RunState {
  readonly key: string;
  readonly workflow: string;
  readonly runId: string;
  /** Its place among the runs (order of first record); only the first MAX_RUNS runs are kept. */
  readonly index: number;
  count: number;
  first: { readonly timestamp: string; readonly runner: string } | undefined;
  /** Outcomes of its records that end something (not isInterim). */
  readonly outcomes: Set<string>;
  /** Per step: whether its latest create record is a wait. */
  readonly waits: Map<string, boolean>;
  finished: boolean;
  /** The drawn records' markup (`item`), and how many were not drawn (MAX_LISTED_BYTES). */
  readonly items: string[];
  hidden: number;
}

/**
 * The runs of the report, counted in timeline order: the first MAX_RUNS in full (verdict and
 * records drawn, within MAX_LISTED_BYTES of markup), the others only counted (their keys kept up to
 * MAX_RUN_KEYS, past which the count is a lower bound).
 */
export class RunTally {
  private readonly drawn = new Map<string, RunState>();
  private readonly others = new Set<string>();
  private othersPast = false;
  private bytes = 0;
  /** Records of drawn runs not drawn (the byte budget was spent). */
  private hiddenRecords = 0;
  private readonly many: boolean;

  constructor(many = false) {
    this.many = many;
  }

  /** How many runs (at least, when `countIsLowerBound`). */
  get count(): number {
    return this.drawn.size + this.others.size;
  }
  get countIsLowerBound(): boolean {
    return this.othersPast;
  }
  get list(): readonly RunState[] {
    return [...this.drawn.values()];
  }

  /** Counts one record; answers its run's state when the run is drawn. */
  add(r: AuditRecord, chain: string): RunState | undefined {
    const w = r.workflow;
    if (w === undefined) return undefined;
    const key = runKey(w);
    let run = this.drawn.get(key);
    if (run === undefined) {
      if (this.drawn.size >= MAX_RUNS) {
        if (this.others.size < MAX_RUN_KEYS) this.others.add(key);
        else if (!this.others.has(key)) this.othersPast = true;
        return undefined;
      }
      run = {
        key,
        workflow: w.id,
        runId: w.runId,
        index: this.drawn.size,
        count: 0,
        first: undefined,
        outcomes: new Set(),
        waits: new Map(),
        finished: false,
        items: [],
        hidden: 0,
      };
      this.drawn.set(key, run);
    }
    run.count++;
    run.first ??= { timestamp: r.timestamp, runner: r.runner };
    if (!isInterim(r)) run.outcomes.add(r.outcome);
    if (r.stage === 'create' && r.step !== undefined && (run.waits.has(r.step) || run.waits.size < MAX_KEYS))
      run.waits.set(r.step, isWaitRecord(r));
    if (r.stage === 'finish') run.finished = true;
    const markup = item(r, chain, this.many);
    if (run.hidden === 0 && this.bytes + markup.length <= MAX_LISTED_BYTES) {
      this.bytes += markup.length;
      run.items.push(markup);
    } else {
      run.hidden++;
      this.hiddenRecords++;
    }
    return run;
  }

  capped(): string[] {
    const out: string[] = [];
    if (this.othersPast)
      out.push(
        `runs: more than ${MAX_RUNS + MAX_RUN_KEYS} runs; past that number they are not told apart, so the count of runs is a lower bound`,
      );
    if (this.hiddenRecords > 0)
      out.push(
        `runs: ${this.hiddenRecords} record(s) of the runs drawn are not drawn (the page keeps at most ${MAX_LISTED_BYTES} bytes of them); each run says how many of its own`,
      );
    return out;
  }
}

/**
 * One summary word for a run: denied, error, failed, succeeded, waiting, or in progress. Records
 * that end nothing (src/audit/fields.ts `isInterim`: a create that waits, an attempt that is retried)
 * are not taken for the run's outcome (red team 13, finding 2: a run that waited once, or whose
 * first attempt failed, and then succeeded read "error" or "failed"); a run with a step whose latest
 * create record is a wait (src/errors/waits.ts `isWaitRecord`), and nothing refused, is waiting.
 */
export function verdict(run: RunView | RunState): string {
  const s = 'records' in run ? stateOf(run) : run;
  if (s.outcomes.has('deny')) return 'denied';
  if (s.outcomes.has('error')) return 'error';
  if (s.outcomes.has('failure')) return 'failed';
  if ([...s.waits.values()].some((w) => w)) return 'waiting';
  return s.finished ? 'succeeded' : 'in progress';
}

/** A run held whole, counted as the report counts it. */
function stateOf(run: RunView): RunState {
  const tally = new RunTally();
  let state: RunState | undefined;
  for (const e of run.records) state = tally.add(e.record, e.chain) ?? state;
  return (
    state ?? {
      key: run.key,
      workflow: run.workflow,
      runId: run.runId,
      index: 0,
      count: 0,
      first: undefined,
      outcomes: new Set(),
      waits: new Map(),
      finished: false,
      items: [],
      hidden: 0,
    }
  );
}

/** Each run step by step: verify → validate → claim → evaluate → mutate (patch) → create → finish. */
export function runs(tally: RunTally): string {
  const list = tally.list;
  if (list.length === 0) return '<section><h2>Runs</h2><p class="empty" id="runs-empty">none</p></section>';
  const blocks = list
    .map((run, i) => {
      const v = verdict(run);
      const hidden =
        run.hidden > 0
          ? `<li class="note">… ${run.hidden} more record(s) not drawn: see them with <code>audit query --run ${esc(run.runId)}</code></li>`
          : '';
      return `<details id="run-${i}" class="run"><summary><b>${esc(run.workflow)}</b> / ${esc(run.runId)} — <span class="${v === 'succeeded' ? 'ok' : v === 'in progress' || v === 'waiting' ? 'note' : 'bad'}">${v}</span>, ${run.count} record(s) from ${esc(run.first?.timestamp ?? '')} (${esc(run.first?.runner ?? '')})</summary><ol class="steps">${run.items.join('')}${hidden}</ol></details>`;
    })
    .join('\n');
  const total = tally.count;
  const more =
    total > list.length
      ? `<p class="note" id="runs-more">${tally.countIsLowerBound ? 'at least ' : ''}${total - list.length} more run(s) not drawn: see them with <code>audit query --run &lt;id&gt;</code>.</p>`
      : '';
  return `<section><h2>Runs (${tally.countIsLowerBound ? 'at least ' : ''}${total})</h2>${blocks}${more}</section>`;
}
