/**
 * Top self-time functions of a V8 CPU profile (`node --cpu-prof`), as a Markdown table; shares
 * are of the busy time (idle samples left out).
 *   node bench/profile-summary.ts <file.cpuprofile> [--top N]
 */
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
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

export function selfTimes(profile: Profile): { name: string; ms: number; share: number }[] {
  const frameOf = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const byName = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const f = frameOf.get(id);
    const where = f?.url ? ` (${relative(REPO_ROOT, new URL(f.url, 'file:///').pathname)}:${f.lineNumber + 1})` : '';
    const name = `${f?.functionName || '(anonymous)'}${where}`;
    byName.set(name, (byName.get(name) ?? 0) + dt);
    if (name !== '(idle)') total += dt;
  });
  byName.delete('(idle)');
  return [...byName].map(([name, us]) => ({ name, ms: us / 1000, share: us / total })).sort((a, b) => b.ms - a.ms);
}

if (import.meta.main) {
  const file = process.argv[2];
  if (file === undefined) throw new Error('usage: node bench/profile-summary.ts <file.cpuprofile> [--top N]');
  const t = process.argv.indexOf('--top');
  const top = t > 0 ? Number(process.argv[t + 1]) : 20;
  const rows = selfTimes(JSON.parse(await readFile(file, 'utf8')) as Profile);
  console.log('| self time | share | function |\n|---:|---:|---|');
  for (const r of rows.slice(0, top))
    console.log(`| ${r.ms.toFixed(0)} ms | ${(r.share * 100).toFixed(1)} % | \`${r.name}\` |`);
}
