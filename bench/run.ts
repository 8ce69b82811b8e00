/**
 * `npm run bench` — every benchmark in one run; writes bench/results.json and prints a Markdown
 * table. `npm run bench -- --quick` is a smoke run (small counts, no goals judged).
 * Scenarios so far: policy evaluation (issue #4), audit append and verify (issue #6). Issue #9
 * adds the rest.
 */
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/adapters/tools.ts';
import { auditBench } from './audit.ts';
import { policyBench } from './policy.ts';

const quick = process.argv.includes('--quick');
const machine = { cores: cpus().length, model: cpus()[0]?.model ?? 'unknown', loadBefore: loadavg() };
console.error(`machine: ${machine.cores} cores (${machine.model}), load ${machine.loadBefore.map((l) => l.toFixed(2)).join(' ')}${quick ? ', QUICK run' : ''}`);

const evaluations = quick ? 20_000 : 1_000_000;
console.error(`policy: ${evaluations} evaluations of a realistic step through the compiled WASM ...`);
const policy = await policyBench(evaluations, (s) => console.error(s));

const appendRecords = quick ? 20_000 : 200_000;
const verifyRecords = quick ? 50_000 : 1_000_000;
console.error(`audit: ${appendRecords} appends from 256 concurrent producers (group commit), then verify of ${verifyRecords} records ...`);
const audit = await auditBench(appendRecords, verifyRecords, (s) => console.error(s));

const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const rows = [
  ['policy evaluation p50', `${policy.p50Micros.toFixed(0)} µs`, '—'],
  ['policy evaluation p99', `${policy.p99Micros.toFixed(0)} µs`, '—'],
  ['policy evaluations/s (one core)', policy.perSecond.toFixed(0), '—'],
  [`WASM memory over ${evaluations} evaluations`, `${mib(policy.wasmMemoryBytes.start)} → ${mib(policy.wasmMemoryBytes.end)} MiB`, 'flat'],
  [`RSS over ${evaluations} evaluations`, `${mib(policy.rssBytes.afterWarmup)} → ${mib(policy.rssBytes.end)} MiB`, 'flat'],
  [`JS heap over ${evaluations} evaluations`, `${mib(policy.heapUsedBytes.afterWarmup)} → ${mib(policy.heapUsedBytes.end)} MiB`, 'flat'],
  [`audit append, group commit (${audit.append.records} records, ${audit.append.producers} producers)`, `${audit.append.perSecond.toFixed(0)} records/s`, '≥ 20,000 records/s'],
  [`audit verify (${audit.verify.records} records, ${mib(audit.verify.bytes)} MiB)`, `${audit.verify.perSecond.toFixed(0)} records/s`, '≥ 100,000 records/s'],
];
console.log('| measure | result | goal |\n|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
const results = { date: new Date().toISOString(), quick, machine: { ...machine, loadAfter: loadavg() }, policy, audit };
await writeFile(join(REPO_ROOT, 'bench', 'results.json'), JSON.stringify(results, null, 2) + '\n');
console.error('wrote bench/results.json');
