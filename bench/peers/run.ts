/**
 * The peers scenario alone, for development (issue 20 §1; `npm run bench` runs it too):
 *
 *   node bench/peers/run.ts [--quick] [--rows runner,bare,intree,gatekeeper,argo-defaults,argo-tuned]
 *                           [--steps N] [--rounds N] [--concurrency N] [--json FILE]
 *
 * Prints the tables on stdout, progress on stderr; --json writes the full result.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { FULL_PEERS, peersBench, QUICK_PEERS } from './harness.ts';
import { peersTables } from './report.ts';
import { parseRows, ROW_NAMES } from './rows.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rows: { type: 'string', default: ROW_NAMES.join(',') },
    steps: { type: 'string' },
    rounds: { type: 'string' },
    concurrency: { type: 'string' },
    json: { type: 'string' },
  },
});
const count = (v: string | undefined, fallback: number, max: number): number => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`expected an integer 1..${max}, got "${v}"`);
  return n;
};
const base = values.quick ? QUICK_PEERS : FULL_PEERS;
const result = await peersBench(
  {
    ...base,
    rows: parseRows(values.rows),
    steps: count(values.steps, base.steps, 5000),
    rounds: count(values.rounds, base.rounds, 10),
    concurrency: count(values.concurrency, base.concurrency, 256),
  },
  (s) => console.error(s),
);
console.log(peersTables(result).join('\n'));
if (values.json !== undefined) await writeFile(values.json, JSON.stringify(result, null, 2) + '\n');
