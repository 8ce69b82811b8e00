import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './tools.ts';

const run = promisify(execFile);

/** The chart whose rendering `policy eval|replay|test --values` reads. */
export const RUNNER_CHART = join(REPO_ROOT, 'charts', 'kubiya-runner');

/** What a runner installed by the chart with some values is configured with. */
export interface ChartSettings {
  /** The exact text of the policy data file the chart mounts at `policy.data` (ConfigMap `<fullname>-policy-data`). */
  readonly dataText: string;
  /** The exact text of the runner configuration it mounts (ConfigMap `<fullname>-config`, runner.yaml). */
  readonly runnerYaml: string;
}

/** A chart that did not render (helm's message, values schema failures included). */
export class ChartRenderError extends Error {}

interface ConfigMapDoc {
  kind?: string;
  metadata?: { name?: string };
  data?: Record<string, string>;
}

/**
 * `helm template` of the chart with the values files given (the pinned helm, as `helm install -f`
 * would render them), and the two files the runner reads from it: the policy data and runner.yaml.
 * Throws ChartRenderError with helm's stderr when the values do not render (a schema failure
 * names the value's path).
 */
export async function renderChartSettings(
  helm: string,
  valuesFiles: readonly string[],
  chart = RUNNER_CHART,
): Promise<ChartSettings> {
  // The kube version the chart is tested against (src/dev/manifest.ts KUBE_VERSION); helm's own default is too old.
  const args = ['template', 'kubiya-runner', chart, '--namespace', 'kubiya', '--kube-version', '1.37.2'];
  for (const f of valuesFiles) args.push('--values', f);
  const stdout = await run(helm, args, { maxBuffer: 16 * 1024 * 1024 }).then(
    (r) => r.stdout,
    (e: { stderr?: string; message?: string }) => {
      throw new ChartRenderError(`helm template failed: ${(e.stderr ?? e.message ?? '').trim()}`);
    },
  );
  const maps = parseAllDocuments(stdout)
    .map((d) => d.toJS() as ConfigMapDoc | null)
    .filter((d): d is ConfigMapDoc => d?.kind === 'ConfigMap');
  const find = (suffix: string, key: string): string => {
    const text = maps.find((m) => m.metadata?.name?.endsWith(suffix) === true)?.data?.[key];
    if (text === undefined) throw new ChartRenderError(`the chart rendered no ConfigMap *${suffix} with ${key}`);
    return text;
  };
  return { dataText: find('-policy-data', 'data.json'), runnerYaml: find('-config', 'runner.yaml') };
}
