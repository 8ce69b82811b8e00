import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
 * Runs `helm template r <chart> --kube-version … -f <values file> <more>` with the pinned helm for
 * each call, writing `values` as YAML 1.1, as Helm reads it (strings, numbers, null, white space
 * and newlines arrive as written; `no` unquoted would be false). Its temporary directory
 * (`prefix` in its name) is removed after the calling test file; `prepare` may put files there.
 */
function helmTemplate<D>(
  prefix: string,
  chart: (dir: string) => Promise<string>,
  more: readonly string[],
): (values: Record<string, unknown>) => Promise<Rendered<D>> {
  const tools = resolveTools(['helm']);
  if (!tools.ok) throw new Error(tools.error.message);
  const helm = tools.value.helm;
  const run = promisify(execFile);
  const dir = mkdtemp(join(tmpdir(), prefix));
  const chartDir = dir.then(chart);
  after(async () => rm(await dir, { recursive: true, force: true }));
  let files = 0;
  return async (values) => {
    const file = join(await dir, `v${++files}.yaml`);
    await writeFile(file, stringify(values, { version: '1.1' }));
    const args = ['template', 'r', await chartDir, '--kube-version', KUBE_VERSION, '-f', file, ...more];
    try {
      const { stdout } = await run(helm, args, { maxBuffer: 64 * 1024 * 1024 });
      return { ok: true, docs: parseAllDocuments(stdout).map((d) => d.toJS() as D) };
    } catch (e) {
      return { ok: false, err: String((e as { stderr?: string }).stderr ?? e) };
    }
  };
}

/** A renderer of the chart with the pinned helm: each call renders it with `values` (helmTemplate). */
export function chartWithValues<D>(prefix: string): (values: Record<string, unknown>) => Promise<Rendered<D>> {
  return helmTemplate<D>(prefix, () => Promise.resolve(CHART), []);
}

/** The chart's NOTES.txt as `helm install` prints it with some values, or helm's stderr. */
export type Notes = { ok: true; notes: string } | { ok: false; err: string };

const NOTES_TEMPLATE = 'templates/notes-under-test.yaml';

/**
 * A renderer of the chart's NOTES.txt with the pinned helm, offline: `helm template` never renders
 * NOTES.txt, and `helm install --dry-run=client` (helm 3.22) still asks a cluster for /version and
 * its OpenAPI. So a copy of the chart has NOTES.txt as a named template, rendered by the same
 * engine with the same values and release into one ConfigMap (`--show-only`): the text an operator
 * is shown. Values the chart refuses are refused here the same way (every template still renders).
 */
export function chartNotes(prefix: string): (values: Record<string, unknown>) => Promise<Notes> {
  const render = helmTemplate<{ data?: { notes?: string } }>(
    prefix,
    async (dir) => {
      const copy = join(dir, 'chart');
      await cp(CHART, copy, { recursive: true });
      const notes = await readFile(join(copy, 'templates', 'NOTES.txt'), 'utf8');
      await rm(join(copy, 'templates', 'NOTES.txt'));
      await writeFile(
        join(copy, 'templates', '_notes-under-test.tpl'),
        `{{- define "notes-under-test" -}}\n${notes}{{- end -}}\n`,
      );
      await writeFile(
        join(copy, NOTES_TEMPLATE),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include "notes-under-test" . | toJson }}\n',
      );
      return copy;
    },
    ['--show-only', NOTES_TEMPLATE],
  );
  return async (values) => {
    const r = await render(values);
    return r.ok ? { ok: true, notes: r.docs[0]?.data?.notes ?? '' } : r;
  };
}
