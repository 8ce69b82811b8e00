import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../adapters/tools.ts';

const run = promisify(execFile);

export const CHART = join(REPO_ROOT, 'charts', 'kubiya-runner');
export const MANIFEST = join(REPO_ROOT, 'deploy', 'kubiya-runner.yaml');
/** The Kubernetes version charts are rendered for (the local control plane's). */
export const KUBE_VERSION = '1.37.2';

/** `helm template` of the chart (release "kubiya-runner"), with extra --set/--values arguments. */
export async function renderChart(helm: string, args: readonly string[] = [], namespace = 'kubiya'): Promise<string> {
  const { stdout } = await run(
    helm,
    ['template', 'kubiya-runner', CHART, '--namespace', namespace, '--kube-version', KUBE_VERSION, ...args],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout;
}

/**
 * The arguments that render only the WorkflowRun CRD. It needs no token, but the chart refuses to
 * render at all without one or runner.existingSecret (red team 17): a Secret name stands in.
 */
export const CRD_ONLY_ARGS: readonly string[] = [
  '--set',
  'runner.existingSecret=crd-only',
  '--show-only',
  'templates/crd-workflowrun.yaml',
];

/**
 * deploy/kubiya-runner.yaml: the chart with default values, for the product page's kubectl path.
 * The Secrets are created by hand, as the page shows for the token: the runner token
 * "kubiya-runner-token" and the checkpoint signing key "kubiya-runner-audit-signing-key" (the chart
 * generates the key on install; a file in the repository must never hold one).
 */
export async function renderManifest(helm: string): Promise<string> {
  const body = await renderChart(helm, [
    '--set',
    'runner.existingSecret=kubiya-runner-token',
    '--set',
    'audit.checkpoint.existingSecret=kubiya-runner-audit-signing-key',
    // the `helm test` pod is Helm's to run, not kubectl's to apply
    '--skip-tests',
  ]);
  return `# kubiya-runner plain manifest, rendered from charts/kubiya-runner with default values.
# Do not edit: regenerate with "npm run manifest" (a test fails when this file drifts from the chart).
#
#   kubectl create namespace kubiya
#   kubectl create secret generic kubiya-runner-token --from-literal=token=\${RUNNER_TOKEN} -n kubiya
#   openssl genpkey -algorithm ed25519 -out signing-key.pem
#   kubectl create secret generic kubiya-runner-audit-signing-key --from-file=signing-key.pem -n kubiya
#   kubectl apply -f deploy/kubiya-runner.yaml
${body}`;
}
