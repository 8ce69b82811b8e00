import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { resolveTools } from '../../src/adapters/tools.ts';
import { CHART } from '../../src/dev/manifest.ts';

const run = promisify(execFile);

/** The rendered runner.yaml of release `x`, or helm's refusal (its stderr). */
export type RenderedConfig = { ok: true; config: string } | { ok: false; stderr: string };

/**
 * A renderer of the chart's runner.yaml: `helm template x` (values schema + templates, Kubernetes
 * 1.37.2, `runner.token=t`) with the values written as JSON into `dir` (exact types: a string
 * stays a string), → the `x-kubiya-runner-config` ConfigMap's `runner.yaml`, or the error.
 */
export function configRenderer(dir: () => string): (values: unknown) => Promise<RenderedConfig> {
  const tools = resolveTools(['helm']);
  if (!tools.ok) throw new Error(tools.error.message);
  const helm = tools.value.helm;
  let n = 0;
  return async (values) => {
    const file = join(dir(), `values-${n++}.json`);
    await writeFile(file, JSON.stringify(values));
    try {
      const { stdout } = await run(
        helm,
        ['template', 'x', CHART, '--kube-version', '1.37.2', '--set', 'runner.token=t', '-f', file],
        { maxBuffer: 16 * 1024 * 1024 },
      );
      const cm = parseAllDocuments(stdout)
        .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; data?: Record<string, string> })
        .find((o) => o?.kind === 'ConfigMap' && o.metadata?.name === 'x-kubiya-runner-config');
      return { ok: true, config: cm!.data!['runner.yaml']! };
    } catch (e) {
      return { ok: false, stderr: (e as { stderr: string }).stderr };
    }
  };
}
