/**
 * `npm run bench` — every benchmark in one process tree; writes bench/results.json and prints a
 * Markdown table of results and one of goals (met or missed, with the margin).
 * `npm run bench -- --quick` (`npm run test:bench`) is a smoke run: small counts, every scenario
 * exercised, no goal judged.
 * Scenarios: decision path vs crypto floor vs OPA sidecar (#9.1), start to ready (#9.5: the shipped CLI,
 * the image's esbuild bundle made from this checkout, judged; the checkout's entry point beside it,
 * not judged: bench/start-ready.ts `--shipped`), policy
 * evaluation and memory (#4, #9.6), audit append and verify (#6), end-to-end admission through
 * `serve` vs bare client-node (#9.2) and scale with thousands of step pods (#9.3) on the local
 * control plane (bench/cluster.ts); and, in the full run only, the peers of issue 20 §1 (the runner
 * beside bare client-node, in-tree PodSecurity + VAP + MAP, Gatekeeper and Argo Workflows on one
 * control plane: bench/peers/harness.ts). The quick run skips the peers and says so.
 *
 *   node --expose-gc bench/run.ts [--quick] [--only decision,start,policy,audit,e2e,scale,peers] [--json FILE]
 *
 * --json writes the results there instead of bench/results.json (bench/results-quick.json with --quick).
 *
 * A section that fails is reported and the others go on (bench/sections.ts); an error nobody caught
 * tears every control plane and process down (bench/fatal.ts, as the peers bench does). The exit
 * code is 1 when any section or peers row failed, and the failures are listed last.
 */
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../src/adapters/tools.ts';
import { auditBench } from './audit.ts';
import { e2eBench, scaleBench } from './cluster.ts';
import { decisionBench, FULL, QUICK } from './decision.ts';
import { installFatalGuard } from './fatal.ts';
import { peersBench, type PeersResult } from './peers/harness.ts';
import { peersTables, runnerRatio } from './peers/report.ts';
import { parsePeersArgs } from './peers/run.ts';
import { policyBench } from './policy.ts';
import { parseOnly, Sections } from './sections.ts';
import { startReadyBench } from './start-ready.ts';
import { atLeast, machineLine, type Goal } from './stats.ts';
import {
  auditRows,
  completeDecision,
  decisionRows,
  e2eRows,
  policyRows,
  scaleRows,
  sectionGoals,
  startRows,
} from './tables.ts';

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, json: { type: 'string' } },
});
const quick = args.quick;
const started = performance.now();
const machine = { cores: cpus().length, model: cpus()[0]?.model ?? 'unknown', loadBefore: loadavg() };
const log = (s: string) => console.error(s);
installFatalGuard(log, 'bench');
const sections = new Sections(log, parseOnly(args.only));
log(
  `machine: ${machine.cores} cores (${machine.model}), load ${machine.loadBefore.map((l) => l.toFixed(2)).join(' ')}${quick ? ', QUICK run' : ''}${args.only !== undefined ? `, only ${args.only}` : ''}`,
);
const load1 = () => loadavg()[0]?.toFixed(2) ?? '?';

const decision = await sections.run('decision', async () =>
  completeDecision(await decisionBench(quick ? QUICK : FULL, log)),
);
const decisionLoad = load1();

const startRuns = quick ? 2 : 7;
const start = await sections.run('start', () => {
  log(
    `start to ready: ${machineLine()}; ${startRuns} runs each of serve against the local control plane, interleaved: the shipped CLI (judged) and the checkout (not judged)`,
  );
  return startReadyBench(startRuns, log, { shipped: true });
});
const startLoad = load1();

const evaluations = quick ? 20_000 : 1_000_000;
const policy = await sections.run('policy', () => {
  log(`policy: ${machineLine()}; ${evaluations} evaluations of a realistic step through the compiled WASM ...`);
  return policyBench(evaluations, log);
});
const policyLoad = load1();

const appendRecords = quick ? 20_000 : 200_000;
const verifyRecords = quick ? 50_000 : 1_000_000;
const audit = await sections.run('audit', () => {
  log(
    `audit: ${machineLine()}; ${appendRecords} appends from 256 concurrent producers (group commit), then verify of ${verifyRecords} records ...`,
  );
  return auditBench(appendRecords, verifyRecords, log);
});
const auditLoad = load1();

const e2eO = quick ? { steps: 20, concurrency: 4, rounds: 1 } : { steps: 300, concurrency: 16, rounds: 3 };
const e2e = await sections.run('e2e', () => {
  log(
    `end-to-end admission: ${machineLine()}; ${e2eO.rounds} rounds of ${e2eO.steps} steps, ${e2eO.concurrency} in flight, runner then bare client-node`,
  );
  return e2eBench(e2eO, log);
});
const e2eLoad = load1();

const scaleO = quick ? { pods: 50, concurrency: 16, runSeconds: 5 } : { pods: 5000, concurrency: 32, runSeconds: 120 };
const scale = await sections.run('scale', () => {
  log(`scale: ${machineLine()}; ${scaleO.pods} one-step runs through serve, each pod running ${scaleO.runSeconds} s`);
  return scaleBench(scaleO, log);
});
if (scale !== undefined && scale.finished < scale.pods)
  sections.fail('scale', `only ${scale.finished} of ${scale.pods} runs finished in time`);
const scaleLoad = load1();

// Peers (issue 20 §1): full run only — its control plane and the peers' processes would grow the
// quick bench that `npm test` runs; rows whose tools are not built report their skip reason.
let peers: PeersResult | undefined;
let peersLoad = '?';
if (quick) log('peers: skipped in --quick (full bench only)');
else {
  peers = await sections.run('peers', () => {
    const peersO = parsePeersArgs([]);
    log(
      `peers: ${machineLine()}; ${peersO.rounds} rounds of ${peersO.steps} steps per row, ${peersO.concurrency} in flight, rows ${peersO.rows.join(', ')}`,
    );
    return peersBench(peersO, log);
  });
  for (const r of peers?.rows ?? []) if (r.failed !== undefined) sections.fail(`peers ${r.slug}`, `in ${r.failed}`);
  peersLoad = load1();
}

const failedRows = sections.failures.map((f) => [
  f.section,
  `FAILED: ${f.cause.replaceAll('|', '\\|')}`,
  '—',
  '—',
  '—',
  '—',
  '—',
]);
// scenario | measure | runs | min / median / max | baseline | ratio | load (1 min, after)
const rows: string[][] = [
  ...(decision !== undefined ? decisionRows(decision, decisionLoad) : []),
  ...(e2e !== undefined ? e2eRows(e2e, e2eLoad) : []),
  ...(scale !== undefined ? scaleRows(scale, scaleLoad) : []),
  ...(start !== undefined ? startRows(start, startLoad) : []),
  ...(policy !== undefined ? policyRows(policy, evaluations, policyLoad) : []),
  ...(audit !== undefined ? auditRows(audit, auditLoad) : []),
  ...failedRows,
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
} else console.log(quick ? '\nPeers: skipped in --quick (full bench only)' : '\nPeers: did not run');

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

const goals: Goal[] = [...sectionGoals({ decision, e2e, scale, start, audit }), ...peerGoals(peers)];
console.log('\n| goal | target | met | margin |\n|---|---|---|---|');
for (const g of goals)
  console.log(
    `| ${g.measure} | ${g.goal} | ${quick ? 'not judged (quick)' : g.met ? 'met' : 'MISSED'} | ${quick ? '—' : g.margin} |`,
  );

const results = {
  date: new Date().toISOString(),
  quick,
  only: args.only ?? null,
  seconds: (performance.now() - started) / 1000,
  machine: { ...machine, loadAfter: loadavg() },
  decision,
  e2e,
  scale,
  start,
  policy,
  audit,
  peers: peers ?? { skipped: quick ? 'quick run (full bench only)' : 'did not run' },
  goals: quick ? [] : goals,
  failures: sections.failures,
};
// A quick run (npm test's last step) keeps its own file, so it never replaces a full run's results.
const resultsFile = args.json ?? join(REPO_ROOT, 'bench', quick ? 'results-quick.json' : 'results.json');
await writeFile(resultsFile, JSON.stringify(results, null, 2) + '\n');
log(`wrote ${resultsFile} (${results.seconds.toFixed(0)} s)`);
process.exitCode = sections.report();
