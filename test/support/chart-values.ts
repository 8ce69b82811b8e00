import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { resolveTools } from '../../src/adapters/tools.ts';
import { CHART, KUBE_VERSION } from '../../src/dev/manifest.ts';

/** What `helm template` gave: the rendered objects, or helm's stderr. */
export type Rendered<D> = { ok: true; docs: D[] } | { ok: false; err: string };

/**
 * A renderer of the chart with the pinned helm: each call writes `values` as a values file —
 * YAML 1.1, as Helm reads it, so strings, numbers, null, white space and newlines arrive as
 * written (`no` unquoted would be false) — and runs `helm template r <chart> --kube-version … -f
 * <file>`. Its temporary directory (`prefix` in its name) is removed after the calling test file.
 */
export function chartWithValues<D>(prefix: string): (values: Record<string, unknown>) => Promise<Rendered<D>> {
  const tools = resolveTools(['helm']);
  if (!tools.ok) throw new Error(tools.error.message);
  const helm = tools.value.helm;
  const run = promisify(execFile);
  const dir = mkdtemp(join(tmpdir(), prefix));
  after(async () => rm(await dir, { recursive: true, force: true }));
  let files = 0;
  return async (values) => {
    const file = join(await dir, `v${++files}.yaml`);
    await writeFile(file, stringify(values, { version: '1.1' }));
    try {
      const { stdout } = await run(helm, ['template', 'r', CHART, '--kube-version', KUBE_VERSION, '-f', file], {
        maxBuffer: 64 * 1024 * 1024,
      });
      return { ok: true, docs: parseAllDocuments(stdout).map((d) => d.toJS() as D) };
    } catch (e) {
      return { ok: false, err: String((e as { stderr?: string }).stderr ?? e) };
    }
  };
}
