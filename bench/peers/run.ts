/**
 * The peers scenario alone, for development (issue 20 §1; `npm run bench` runs it too, with the
 * defaults parsed here):
 *
 *   node bench/peers/run.ts [--quick] [--rows runner,bare,intree,gatekeeper,argo-defaults,argo-tuned]
 *                           [--steps N] [--rounds N] [--concurrency N] [--json FILE]
 *   node bench/peers/run.ts --intree-check     (the in-tree CEL image rules against the runner's, see intree-check.ts)
 *   node bench/peers/run.ts --watch-check      (an idle watch after another namespace's burst, see watch-check.ts)
 *
 * Prints the tables on stdout, progress on stderr; --json writes the full result.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { installFatalGuard } from '../fatal.ts';
import { FULL_PEERS, peersBench, QUICK_PEERS, type PeersOptions } from './harness.ts';
import { intreeCheck } from './intree-check.ts';
import { peersTables } from './report.ts';
import { parseRows, ROW_NAMES } from './rows.ts';
import { watchCheck } from './watch-check.ts';

const count = (v: string | undefined, fallback: number, max: number): number => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`expected an integer 1..${max}, got "${v}"`);
  return n;
};

/** The scenario's options from command-line arguments (none: the full run with every row). */
export function parsePeersArgs(args: readonly string[]): PeersOptions & {
  readonly json: string | undefined;
  readonly intreeCheck: boolean;
  readonly watchCheck: boolean;
} {
  const { values } = parseArgs({
    args: [...args],
    options: {
      quick: { type: 'boolean', default: false },
      'intree-check': { type: 'boolean', default: false },
      'watch-check': { type: 'boolean', default: false },
      rows: { type: 'string', default: ROW_NAMES.join(',') },
      steps: { type: 'string' },
      rounds: { type: 'string' },
      concurrency: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const base = values.quick ? QUICK_PEERS : FULL_PEERS;
  return {
    ...base,
    rows: parseRows(values.rows),
    steps: count(values.steps, base.steps, 5000),
    rounds: count(values.rounds, base.rounds, 10),
    concurrency: count(values.concurrency, base.concurrency, 256),
    json: values.json,
    intreeCheck: values['intree-check'],
    watchCheck: values['watch-check'],
  };
}

if (import.meta.main) {
  const o = parsePeersArgs(process.argv.slice(2));
  const log = (s: string): void => console.error(s);
  installFatalGuard(log, 'peers');
  if (o.intreeCheck) {
    const failed = await intreeCheck(log);
    if (failed > 0) log(`${failed} image reference(s) answered differently`);
    process.exitCode = failed > 0 ? 1 : 0;
  } else if (o.watchCheck) process.exitCode = await watchCheck(log);
  else {
    const result = await peersBench(o, log);
    console.log(peersTables(result).join('\n'));
    if (o.json !== undefined) await writeFile(o.json, JSON.stringify(result, null, 2) + '\n');
    const failed = result.rows.filter((r) => r.failed !== undefined);
    for (const r of failed) log(`${r.slug} FAILED in ${r.failed}`);
    if (failed.length > 0) process.exitCode = 1;
  }
}
