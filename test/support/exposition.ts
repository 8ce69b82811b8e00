/** A small reader of the Prometheus text exposition format, for tests. */
export interface Family {
  type: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      families.set(name!, { type: type!, samples: [] });
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not exposition format: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const base = [...families.keys()].find((f) => m[1] === f || m[1]!.startsWith(`${f}_`)) ?? m[1]!;
    const fam = families.get(base) ?? { type: 'untyped', samples: [] };
    fam.samples.push({ name: m[1]!, labels, value: Number(m[3]) });
    families.set(base, fam);
  }
  return families;
}
