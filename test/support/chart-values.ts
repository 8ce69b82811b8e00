import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { resolveTools } from '../../src/adapters/tools.ts';
import { CHART, KUBE_VERSION } from '../../src/dev/manifest.ts';

/**
 * A runner token for renders whose subject is something else: the chart refuses to render without
 * one (or runner.existingSecret) when controlPlane.url is set, which it always is (red team 17;
 * test/chart/runner-token.test.ts). Put it before a test's own --set: a later one wins.
 */
export const CHART_TEST_TOKEN = ['--set', 'runner.token=chart-test-token'] as const;

/** `values` with a runner token when they name neither runner.token nor runner.existingSecret (CHART_TEST_TOKEN). */
function withTestToken(values: Record<string, unknown>): Record<string, unknown> {
  const runner = (values.runner ?? {}) as Record<string, unknown>;
  if (typeof runner !== 'object' || 'token' in runner || 'existingSecret' in runner) return values;
  return { ...values, runner: { token: 'chart-test-token', ...runner } };
}

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
  asGiven = false,
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
    await writeFile(file, stringify(asGiven ? values : withTestToken(values), { version: '1.1' }));
    const args = ['template', 'r', await chartDir, '--kube-version', KUBE_VERSION, '-f', file, ...more];
    try {
      const { stdout } = await run(helm, args, { maxBuffer: 64 * 1024 * 1024 });
      return { ok: true, docs: parseAllDocuments(stdout).map((d) => d.toJS() as D) };
    } catch (e) {
      return { ok: false, err: String((e as { stderr?: string }).stderr ?? e) };
    }
  };
}

/**
 * A renderer of the chart with the pinned helm: each call renders it with `values` (helmTemplate),
 * given a runner token when they name none (CHART_TEST_TOKEN) unless `asGiven`.
 */
export function chartWithValues<D>(
  prefix: string,
  options: { readonly asGiven?: boolean } = {},
): (values: Record<string, unknown>) => Promise<Rendered<D>> {
  return helmTemplate<D>(prefix, () => Promise.resolve(CHART), [], options.asGiven ?? false);
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
