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

function rowLine(p: PeersResult, r: RowResult): string {
  if (r.failed !== undefined) return `| ${r.name} | FAILED in ${r.failed.replaceAll('|', '\\|')} |${' |'.repeat(16)}`;
  if (r.summary === undefined) return `| ${r.name} | skipped: ${r.skipped ?? 'not run'} |${' |'.repeat(16)}`;
  const s = r.summary;
  const t = s.terminalMs;
  return [
    r.name,
    `${f1(s.perSecond.min)} / ${f1(s.perSecond.median)} / ${f1(s.perSecond.max)}`,
    `${ms(s.podMs.p50)} / ${ms(s.podMs.p99)}`,
    t === undefined ? 'none kept' : `${ms(t.p50)} / ${ms(t.p99)} (n ${t.n})`,
    s.writesPerStep.toFixed(2),
    ownWritesPerStep(p, r)?.toFixed(2) ?? '—',
    ...cpuCells(r),
    r.peakRssBytes === undefined ? '— (no process)' : `${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
    `${s.load1.min.toFixed(2)}–${s.load1.max.toFixed(2)}`,
    runnerRatio(p, r)?.toFixed(2).concat('×') ?? '—',
  ]
    .join(' | ')
    .replace(/^/, '| ')
    .concat(' |');
}

/**
 * A row's own API writes per step, estimated against the bare row in the same run: the bare
 * client writes exactly one object per step (the pod), every other write in its window is the
 * platform's (binding, kwok's status patches, events), the same for every row; so a row's own
 * writes ≈ its writes − bare's + 1. Undefined without a bare row.
 */
export function ownWritesPerStep(p: PeersResult, r: RowResult): number | undefined {
  const bare = p.rows.find((x) => x.slug === 'bare')?.summary?.writesPerStep;
  const mine = r.summary?.writesPerStep;
  return bare === undefined || mine === undefined ? undefined : mine - bare + 1;
}

/** The runner's median steps/s ÷ the row's (undefined when either did not run). */
export function runnerRatio(p: PeersResult, r: RowResult): number | undefined {
  const runner = p.rows.find((x) => x.slug === 'runner')?.summary?.perSecond.median;
  const row = r.summary?.perSecond.median;
  return runner === undefined || row === undefined ? undefined : runner / row;
}

const totalCpuPer1000 = (r: RowResult): number | undefined => {
  const c = r.summary?.cpuSecondsPer1000;
  return c === undefined ? undefined : Object.values(c).reduce((a, b) => a + b, 0);
};

/**
 * The sustained view (diagnostic, not judged): a row's median steps/s to pod ADDED (the judged
 * figure), its median steps completed/s (first submit → the round's last pod Succeeded, so its
 * completion work falls inside the window), and every process's CPU-s per 1,000 steps (admission
 * and completion); with the runner's ratio on each. The ADDED rate lets a row that creates pods
 * faster than the fake kubelet completes them defer part of its per-step cost (its pods' status
 * writes) past the loop; the CPU ratio is what a CPU-bound control plane sustains.
 */
export function sustainedLines(p: PeersResult): string[] {
  const runner = p.rows.find((x) => x.slug === 'runner')?.summary;
  const runnerCpu = p.rows.find((x) => x.slug === 'runner');
  const ratio = (mine: number | undefined, theirs: number | undefined): string =>
    mine === undefined || theirs === undefined ? '—' : `${(mine / theirs).toFixed(2)}×`;
  const lines = p.rows.flatMap((r) => {
    const s = r.summary;
    if (s === undefined) return [];
    const cpu = totalCpuPer1000(r);
    const mineCpu = runnerCpu === undefined ? undefined : totalCpuPer1000(runnerCpu);
    return [
      `| ${r.name} | ${f1(s.perSecond.median)} | ${f1(s.completedPerSecond.median)} | ${f1(cpu)} | ${ratio(runner?.perSecond.median, s.perSecond.median)} | ${ratio(runner?.completedPerSecond.median, s.completedPerSecond.median)} | ${ratio(cpu, mineCpu)} |`,
    ];
  });
  return [
    '',
    "Sustained view (diagnostic, not judged): steps/s to pod ADDED (judged above), steps completed/s (first submit → last pod Succeeded), all processes' CPU-s per 1,000 steps",
    '',
    '| row | steps/s to ADDED (median) | steps completed/s (median) | CPU-s per 1,000 steps, total | runner ÷ row: ADDED | completed | by CPU per step (row ÷ runner) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...lines,
  ];
}

/** The results table (one line per row) and the parity table, as Markdown lines. */
export function peersTables(p: PeersResult): string[] {
  const o = p.options;
  const head = [
    `Peers: ${o.rounds} round(s) of ${o.steps} steps per row, ${o.concurrency} submitters, rows rotated each round; load before ${p.loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${p.loadAfter.map((l) => l.toFixed(2)).join(' ')}`,
    '',
    '| row | steps/s min / median / max | submit → pod ADDED p50 / p99 | pod Succeeded → terminal record p50 / p99 | API writes / step (all clients) | own writes / step (≈ row − bare + 1) | CPU-s per 1,000 steps: apiserver | etcd | kwok | scheduler | controller-mgr | row | other rows (idle) | harness | total | peak RSS (row) | load (1 min) | runner ÷ row (median steps/s) |',
    '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|',
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
    ...p.rows.map((r) => rowLine(p, r)),
    ...sustainedLines(p),
    ...parity,
    ...lacks,
    '',
    `Idle CPU with every row started, no load: ${idle}`,
  ];
}
