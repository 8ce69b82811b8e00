/**
 * Top self-time functions of one or more V8 CPU profiles (`node --cpu-prof`), as a Markdown
 * table; shares are of the busy time (idle samples left out). Several files (one per serve process
 * or worker thread, as `--cpu-prof-dir` writes them) are summed function by function.
 *   node bench/profile-summary.ts <file.cpuprofile>... [--top N]
 */
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../src/adapters/tools.ts';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/**
 * Self time per function (name, file and line) summed over `profiles`, largest first: `ms` in
 * milliseconds, `share` of all the profiles' busy time (0..1; `(idle)` samples left out).
 */
export function selfTimes(...profiles: readonly Profile[]): { name: string; ms: number; share: number }[] {
  const byName = new Map<string, number>();
  let total = 0;
  for (const profile of profiles) {
    const frameOf = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
    profile.samples.forEach((id, i) => {
      const dt = profile.timeDeltas[i] ?? 0;
      const f = frameOf.get(id);
      const where = f?.url ? ` (${relative(REPO_ROOT, new URL(f.url, 'file:///').pathname)}:${f.lineNumber + 1})` : '';
      const name = `${f?.functionName || '(anonymous)'}${where}`;
      byName.set(name, (byName.get(name) ?? 0) + dt);
      if (name !== '(idle)') total += dt;
    });
  }
  byName.delete('(idle)');
  return [...byName].map(([name, us]) => ({ name, ms: us / 1000, share: us / total })).sort((a, b) => b.ms - a.ms);
}

if (import.meta.main) {
  const { values, positionals: files } = parseArgs({ options: { top: { type: 'string' } }, allowPositionals: true });
  const top = values.top === undefined ? 20 : Number(values.top);
  if (files.length === 0 || !(top > 0))
    throw new Error('usage: node bench/profile-summary.ts <file.cpuprofile>... [--top N]');
  const profiles = await Promise.all(files.map(async (f) => JSON.parse(await readFile(f, 'utf8')) as Profile));
  if (files.length > 1) console.log(`${files.length} profiles, summed\n`);
  const rows = selfTimes(...profiles);
  console.log('| self time | share | function |\n|---:|---:|---|');
  for (const r of rows.slice(0, top))
    console.log(`| ${r.ms.toFixed(0)} ms | ${(r.share * 100).toFixed(1)} % | \`${r.name}\` |`);
}
