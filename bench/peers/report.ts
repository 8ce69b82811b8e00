/**
 * The peers scenario's Markdown tables (issue 20 §1): one line per row with its throughput,
 * latencies, API writes per step and CPU-seconds per 1,000 steps by process, and one with the
 * parity answers. Printed by `npm run bench` and `node bench/peers/run.ts`.
 */
import type { PeersResult, RowResult } from './harness.ts';
import { FIXTURES } from './parity.ts';

const CONTROL_PLANE = ['kube-apiserver', 'etcd', 'kwok', 'kube-scheduler', 'kube-controller-manager'] as const;
const f1 = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(1));
const ms = (v: number): string => (Number.isNaN(v) ? '—' : `${v.toFixed(0)} ms`);

/** CPU-seconds per 1,000 steps: the control plane's processes, the row's, the other rows', the harness, total. */
function cpuCells(r: RowResult): string[] {
  const c = r.summary?.cpuSecondsPer1000 ?? {};
  const total = Object.values(c).reduce((a, b) => a + b, 0);
  return [...CONTROL_PLANE.map((k) => f1(c[k])), f1(c.row), f1(c['other rows']), f1(c.harness), f1(total)];
}

function rowLine(r: RowResult): string {
  if (r.summary === undefined) return `| ${r.name} | skipped: ${r.skipped ?? 'not run'} |${' |'.repeat(14)}`;
  const s = r.summary;
  const t = s.terminalMs;
  return [
    r.name,
    `${f1(s.perSecond.min)} / ${f1(s.perSecond.median)} / ${f1(s.perSecond.max)}`,
    `${ms(s.podMs.p50)} / ${ms(s.podMs.p99)}`,
    t === undefined ? 'none kept' : `${ms(t.p50)} / ${ms(t.p99)} (n ${t.n})`,
    s.writesPerStep.toFixed(2),
    ...cpuCells(r),
    r.peakRssBytes === undefined ? '— (no process)' : `${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
    `${s.load1.min.toFixed(2)}–${s.load1.max.toFixed(2)}`,
  ]
    .join(' | ')
    .replace(/^/, '| ')
    .concat(' |');
}

/** The results table (one line per row) and the parity table, as Markdown lines. */
export function peersTables(p: PeersResult): string[] {
  const o = p.options;
  const head = [
    `Peers: ${o.rounds} round(s) of ${o.steps} steps per row, ${o.concurrency} submitters, rows rotated each round; load before ${p.loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${p.loadAfter.map((l) => l.toFixed(2)).join(' ')}`,
    '',
    '| row | steps/s min / median / max | submit → pod ADDED p50 / p99 | pod Succeeded → terminal record p50 / p99 | API writes / step | CPU-s per 1,000 steps: apiserver | etcd | kwok | scheduler | controller-mgr | row | other rows (idle) | harness | total | peak RSS (row) | load (1 min) |',
    '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|',
  ];
  const parity = [
    '',
    `| row | ${FIXTURES.map((f) => f.name).join(' | ')} | judged |`,
    `|---|${FIXTURES.map(() => '---').join('|')}|---|`,
    ...p.rows
      .filter((r) => r.parity !== undefined)
      .map(
        (r) =>
          `| ${r.name} | ${FIXTURES.map((f) => r.parity?.fixtures[f.name]?.verdict ?? '—').join(' | ')} | ${r.parity?.judged ? 'yes' : 'no (no policy)'} |`,
      ),
  ];
  const lacks = [
    '',
    ...p.rows.filter((r) => r.lacks.length > 0).map((r) => `- ${r.name} does not do: ${r.lacks.join('; ')}`),
  ];
  const idle = Object.entries(p.idleCpuPerSecond)
    .map(([k, v]) => `${k} ${(v * 1000).toFixed(0)} ms/s`)
    .join(', ');
  return [
    ...head,
    ...p.rows.map(rowLine),
    ...parity,
    ...lacks,
    '',
    `Idle CPU with every row started, no load: ${idle}`,
  ];
}
