/**
 * `npm run bench` — every benchmark in one process tree; writes bench/results.json and prints a
 * Markdown table of results and one of goals (met or missed, with the margin).
 * `npm run bench -- --quick` (`npm run test:bench`) is a smoke run: small counts, every scenario
 * exercised, no goal judged.
 * Scenarios: decision path vs crypto floor vs OPA sidecar (#9.1), start to ready (#9.5), policy
 * evaluation and memory (#4, #9.6), audit append and verify (#6), end-to-end admission through
 * `serve` vs bare client-node (#9.2) and scale with thousands of step pods (#9.3) on the local
 * control plane (bench/cluster.ts); and, in the full run only, the peers of issue 20 §1 (the runner
 * beside bare client-node, in-tree PodSecurity + VAP + MAP, Gatekeeper and Argo Workflows on one
 * control plane: bench/peers/harness.ts). The quick run skips the peers and says so.
 */
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/adapters/tools.ts';
import { auditBench } from './audit.ts';
import { e2eBench, scaleBench } from './cluster.ts';
import { decisionBench, FULL, QUICK, sidecarDecisions } from './decision.ts';
import { peersBench, type PeersResult } from './peers/harness.ts';
import { peersTables, runnerRatio } from './peers/report.ts';
import { parsePeersArgs } from './peers/run.ts';
import { policyBench } from './policy.ts';
import { startReadyBench } from './start-ready.ts';
import { atLeast, atMost, fmt, machineLine, spread, type Goal } from './stats.ts';

const quick = process.argv.includes('--quick');
const started = performance.now();
const machine = { cores: cpus().length, model: cpus()[0]?.model ?? 'unknown', loadBefore: loadavg() };
const log = (s: string) => console.error(s);
log(
  `machine: ${machine.cores} cores (${machine.model}), load ${machine.loadBefore.map((l) => l.toFixed(2)).join(' ')}${quick ? ', QUICK run' : ''}`,
);
const load1 = () => loadavg()[0]?.toFixed(2) ?? '?';

const decision = await decisionBench(quick ? QUICK : FULL, log);
const decisionLoad = load1();

const startRuns = quick ? 2 : 7;
log(`start to ready: ${machineLine()}; ${startRuns} runs of serve against the local control plane`);
const start = await startReadyBench(startRuns, log);
const startLoad = load1();

const evaluations = quick ? 20_000 : 1_000_000;
log(`policy: ${machineLine()}; ${evaluations} evaluations of a realistic step through the compiled WASM ...`);
const policy = await policyBench(evaluations, log);
const policyLoad = load1();

const appendRecords = quick ? 20_000 : 200_000;
const verifyRecords = quick ? 50_000 : 1_000_000;
log(
  `audit: ${machineLine()}; ${appendRecords} appends from 256 concurrent producers (group commit), then verify of ${verifyRecords} records ...`,
);
const audit = await auditBench(appendRecords, verifyRecords, log);
const auditLoad = load1();

const e2eO = quick ? { steps: 20, concurrency: 4, rounds: 1 } : { steps: 300, concurrency: 16, rounds: 3 };
log(
  `end-to-end admission: ${machineLine()}; ${e2eO.rounds} rounds of ${e2eO.steps} steps, ${e2eO.concurrency} in flight, runner then bare client-node`,
);
const e2e = await e2eBench(e2eO, log);
const e2eLoad = load1();

const scaleO = quick ? { pods: 50, concurrency: 16, runSeconds: 5 } : { pods: 5000, concurrency: 32, runSeconds: 120 };
log(`scale: ${machineLine()}; ${scaleO.pods} one-step runs through serve, each pod running ${scaleO.runSeconds} s`);
const scale = await scaleBench(scaleO, log);
const scaleLoad = load1();

// Peers (issue 20 §1): full run only — its control plane and the peers' processes would grow the
// quick bench that `npm test` runs; rows whose tools are not built report their skip reason.
let peers: PeersResult | undefined;
let peersLoad = '?';
if (quick) log('peers: skipped in --quick (full bench only)');
else {
  const peersO = parsePeersArgs([]);
  log(
    `peers: ${machineLine()}; ${peersO.rounds} rounds of ${peersO.steps} steps per row, ${peersO.concurrency} in flight, rows ${peersO.rows.join(', ')}`,
  );
  peers = await peersBench(peersO, log);
  peersLoad = load1();
}

const { wasm, floor, sidecar, ratios } = decision;
if (floor === undefined || sidecar === undefined || ratios === undefined || wasm.paced === undefined)
  throw new Error('decision bench ran without its baselines');
const vsSidecar = ratios.vsSidecar.median;
const vsFloor = ratios.vsFloor.median;
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const one = (v: string) => `${v} / ${v} / ${v}`;
const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
const c = decision.counts;

// scenario | measure | runs | min / median / max | baseline | ratio | load (1 min, after)
const rows: string[][] = [
  [
    '1 decision path',
    `in-process WASM, decisions/s (${c.decisions} per run, ${c.concurrency} in flight)`,
    `${c.runs}`,
    fmt.spread(wasm.perSecond, fmt.rate),
    '—',
    '—',
    decisionLoad,
  ],
  ...(wasm.cpuMicros !== undefined
    ? [
        [
          '1 decision path',
          'in-process WASM, CPU per decision: JS thread (the one core)',
          `${c.runs}`,
          fmt.spread(wasm.cpuMicros.thread, fmt.micros),
          '—',
          '—',
          decisionLoad,
        ],
      ]
    : []),
  [
    '1 decision path',
    `(a) crypto floor: Ed25519 verify + SHA-256 of the 4 records, /s (${c.floorOps} per run)`,
    `${c.runs}`,
    fmt.spread(floor.perSecond, fmt.rate),
    '—',
    '—',
    decisionLoad,
  ],
  [
    '1 decision path',
    `(b) OPA sidecar (\`opa run --server\`, keep-alive HTTP), decisions/s (${sidecarDecisions(c)} per run)`,
    `${c.runs}`,
    fmt.spread(sidecar.perSecond, fmt.rate),
    '—',
    '—',
    decisionLoad,
  ],
  ...(sidecar.cpuMicros !== undefined
    ? [
        [
          '1 decision path',
          'OPA sidecar, CPU per decision: our JS thread (opa is another process)',
          `${c.runs}`,
          fmt.spread(sidecar.cpuMicros.thread, fmt.micros),
          '—',
          '—',
          decisionLoad,
        ],
      ]
    : []),
  [
    '1 decision path',
    'in-process WASM / OPA sidecar, ratio within each round',
    `${c.runs}`,
    fmt.spread(ratios.vsSidecar, fmt.ratio),
    'OPA sidecar',
    fmt.ratio(vsSidecar),
    decisionLoad,
  ],
  [
    '1 decision path',
    'in-process WASM / crypto floor, ratio within each round',
    `${c.runs}`,
    fmt.spread(ratios.vsFloor, fmt.ratio),
    'crypto floor',
    fmt.ratio(vsFloor),
    decisionLoad,
  ],
  [
    '1 decision path',
    `WASM p50 / p99 at 50 % load (${fmt.rate(wasm.paced.rate)}/s open loop, ${wasm.paced.arrivals} arrivals)`,
    '1',
    `${fmt.ms(wasm.paced.p50Micros / 1000)} / ${fmt.ms(wasm.paced.p99Micros / 1000)} (max ${fmt.ms(wasm.paced.maxMicros / 1000)})`,
    '—',
    '—',
    decisionLoad,
  ],
  ...(wasm.pacedTmpfs !== undefined
    ? [
        [
          '1 decision path',
          `diagnostic: WASM p50 / p99 at the same rate, audit log on tmpfs (fdatasync ~free)`,
          '1',
          `${fmt.ms(wasm.pacedTmpfs.p50Micros / 1000)} / ${fmt.ms(wasm.pacedTmpfs.p99Micros / 1000)} (max ${fmt.ms(wasm.pacedTmpfs.maxMicros / 1000)})`,
          '—',
          '—',
          decisionLoad,
        ],
      ]
    : []),
  [
    '1 decision path',
    `disk under the audit log: one write + fdatasync, p50 / p99 (${decision.disk.syncs} syncs)`,
    '1',
    `${fmt.micros(decision.disk.p50Micros)} / ${fmt.micros(decision.disk.p99Micros)}`,
    '—',
    '—',
    decisionLoad,
  ],
  ...(sidecar.paced !== undefined
    ? [
        [
          '1 decision path',
          `sidecar p50 / p99 at 50 % of its max (${fmt.rate(sidecar.paced.rate)}/s, ${sidecar.paced.arrivals} arrivals)`,
          '1',
          `${fmt.ms(sidecar.paced.p50Micros / 1000)} / ${fmt.ms(sidecar.paced.p99Micros / 1000)} (max ${fmt.ms(sidecar.paced.maxMicros / 1000)})`,
          '—',
          '—',
          decisionLoad,
        ],
      ]
    : []),
  [
    '2 end-to-end admission',
    `through \`serve\` (HTTP intake → WorkflowRun → reconcile → policy → audit → egress policy → pod), steps/s (${e2e.steps} per round, ${e2e.concurrency} in flight)`,
    `${e2e.rounds}`,
    fmt.spread(spread(e2e.runner.map((r) => r.perSecond)), (v) => v.toFixed(1)),
    '—',
    '—',
    e2eLoad,
  ],
  [
    '2 end-to-end admission',
    'bare @kubernetes/client-node createNamespacedPod loop, same pods, same concurrency, pods/s',
    `${e2e.rounds}`,
    fmt.spread(spread(e2e.bare.map((r) => r.perSecond)), (v) => v.toFixed(1)),
    '—',
    '—',
    e2eLoad,
  ],
  [
    '2 end-to-end admission',
    'runner / bare, median of rounds',
    `${e2e.rounds}`,
    '—',
    'bare client-node',
    fmt.ratio(e2e.ratio),
    e2eLoad,
  ],
  [
    '2 end-to-end admission',
    'submit → pod announced by the API server, p50 / p99 (median round): runner · bare',
    `${e2e.rounds}`,
    `${fmt.ms(spread(e2e.runner.map((r) => r.latencyMs.p50)).median)} / ${fmt.ms(spread(e2e.runner.map((r) => r.latencyMs.p99)).median)} · ${fmt.ms(spread(e2e.bare.map((r) => r.latencyMs.p50)).median)} / ${fmt.ms(spread(e2e.bare.map((r) => r.latencyMs.p99)).median)}`,
    '—',
    '—',
    e2eLoad,
  ],
  [
    '3 scale',
    `${scale.pods} concurrent one-step runs through completion: runner peak RSS (VmHWM)`,
    '1',
    one(`${mib(scale.peakRssBytes)} MiB`),
    '—',
    '—',
    scaleLoad,
  ],
  [
    '3 scale',
    'runner watch connections (API server apiserver_longrunning_requests, with − without the runner)',
    '1',
    Object.entries(scale.watches)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', '),
    '—',
    '—',
    scaleLoad,
  ],
  [
    '3 scale',
    `completion seen: API server announces Succeeded → runner's durable finish record, p50 / p99 / max (${scale.completionSeenMs.n} pods)`,
    '1',
    `${fmt.ms(scale.completionSeenMs.p50)} / ${fmt.ms(scale.completionSeenMs.p99)} / ${fmt.ms(scale.completionSeenMs.max)}`,
    '—',
    '—',
    scaleLoad,
  ],
  [
    '5 start to ready',
    `spawn \`serve --config\` → first 200 from /ready (polled every ${start.pollMs} ms)`,
    `${start.seconds.runs}`,
    fmt.spread(start.seconds, ms),
    '—',
    '—',
    startLoad,
  ],
  [
    '6 policy',
    'evaluation p50 / p99 (evaluate stage, schema check included)',
    '1',
    `${fmt.micros(policy.p50Micros)} / ${fmt.micros(policy.p99Micros)}`,
    '—',
    '—',
    policyLoad,
  ],
  ['6 policy', 'evaluations/s (one core)', '1', one(fmt.rate(policy.perSecond)), '—', '—', policyLoad],
  [
    '6 policy',
    `WASM memory over ${evaluations} evaluations`,
    '1',
    `${mib(policy.wasmMemoryBytes.start)} → ${mib(policy.wasmMemoryBytes.end)} MiB`,
    '—',
    '—',
    policyLoad,
  ],
  [
    '6 policy',
    `RSS over ${evaluations} evaluations`,
    '1',
    `${mib(policy.rssBytes.afterWarmup)} → ${mib(policy.rssBytes.end)} MiB`,
    '—',
    '—',
    policyLoad,
  ],
  [
    '6 policy',
    `JS heap over ${evaluations} evaluations`,
    '1',
    `${mib(policy.heapUsedBytes.afterWarmup)} → ${mib(policy.heapUsedBytes.end)} MiB`,
    '—',
    '—',
    policyLoad,
  ],
  [
    'audit',
    `append, group commit (${audit.append.records} records, ${audit.append.producers} producers), records/s`,
    '1',
    one(fmt.rate(audit.append.perSecond)),
    '—',
    '—',
    auditLoad,
  ],
  [
    'audit',
    `verify (${audit.verify.records} records, ${mib(audit.verify.bytes)} MiB), records/s`,
    '1',
    one(fmt.rate(audit.verify.perSecond)),
    '—',
    '—',
    auditLoad,
  ],
];
console.log(
  `Machine: ${machine.cores} cores (${machine.model}); load before ${machine.loadBefore.map((l) => l.toFixed(2)).join(' ')}${quick ? '; QUICK run: counts too small for figures to mean anything' : ''}\n`,
);
console.log(
  '| scenario | measure | runs | min / median / max | baseline | ratio | load |\n|---|---|---:|---|---|---:|---:|',
);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);

if (peers !== undefined) {
  console.log(`\n${peersTables(peers).join('\n')}\n(load after the peers scenario: ${peersLoad})`);
} else console.log('\nPeers: skipped in --quick (full bench only)');

/** Issue 20 §2's end-to-end targets against the peers, judged only for the rows that ran. */
function peerGoals(p: PeersResult | undefined): Goal[] {
  const targets: [string, string, number][] = [
    ['argo-defaults', '≥ 2×', 2],
    ['argo-tuned', '≥ 1×', 1],
    ['gatekeeper', '≥ 0.8×', 0.8],
    ['bare', '≥ 0.6×', 0.6],
  ];
  return targets.flatMap(([slug, goal, target]) => {
    const row = p?.rows.find((r) => r.slug === slug);
    const ratio = p !== undefined && row !== undefined ? runnerRatio(p, row) : undefined;
    return ratio === undefined
      ? []
      : [atLeast(`peers: runner steps/s vs ${row?.name ?? slug} (medians)`, goal, ratio, target)];
  });
}

const goals: Goal[] = [
  atLeast('decisions/s vs OPA sidecar (median of the rounds)', '≥ 3×', vsSidecar, 3),
  atLeast('decisions/s vs crypto floor (median of the rounds)', '≥ 0.5×', vsFloor, 0.5),
  atMost('decision p99 at 50 % load', '≤ 1 ms', wasm.paced.p99Micros / 1000, 1, (v) => `${v.toFixed(2)} ms`),
  atLeast('end-to-end admission vs bare client-node (median of rounds)', '≥ 0.9×', e2e.ratio, 0.9),
  atMost(
    `runner peak RSS with ${scale.pods} step pods`,
    '≤ 256 MiB',
    scale.peakRssBytes / 2 ** 20,
    256,
    (v) => `${v.toFixed(0)} MiB`,
  ),
  atMost('watch connections per kind', '1', Math.max(...Object.values(scale.watches)), 1, (v) => v.toFixed(0)),
  atMost('completion seen p99', '≤ 1 s', scale.completionSeenMs.p99 / 1000, 1, (v) => `${(v * 1000).toFixed(0)} ms`),
  atMost('start to ready (median of runs)', '≤ 1.5 s', start.seconds.median, 1.5, (v) => `${(v * 1000).toFixed(0)} ms`),
  atLeast('audit append', '≥ 20,000 records/s', audit.append.perSecond, 20_000),
  atLeast('audit verify', '≥ 100,000 records/s', audit.verify.perSecond, 100_000),
  ...peerGoals(peers),
];
console.log('\n| goal | target | met | margin |\n|---|---|---|---|');
for (const g of goals)
  console.log(
    `| ${g.measure} | ${g.goal} | ${quick ? 'not judged (quick)' : g.met ? 'met' : 'MISSED'} | ${quick ? '—' : g.margin} |`,
  );

const results = {
  date: new Date().toISOString(),
  quick,
  seconds: (performance.now() - started) / 1000,
  machine: { ...machine, loadAfter: loadavg() },
  decision,
  e2e,
  scale,
  start,
  policy,
  audit,
  peers: peers ?? { skipped: 'quick run (full bench only)' },
  goals: quick ? [] : goals,
};
await writeFile(join(REPO_ROOT, 'bench', 'results.json'), JSON.stringify(results, null, 2) + '\n');
log(`wrote bench/results.json (${results.seconds.toFixed(0)} s)`);
