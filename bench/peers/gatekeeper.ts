/**
 * The peer row "bare create behind OPA Gatekeeper" (issue 20 §1): a bare client-node pod create
 * into the row's namespace, admitted through Gatekeeper (built from tools/gatekeeper, run out of
 * the cluster on loopback) with our own ConstraintTemplates (the runner's image and resource
 * rules) and Assign mutators (the restricted mutation; optionally the runner's default resources
 * for what a container leaves out, as serve applies them before policy); PodSecurity restricted
 * validates last.
 *
 * Gatekeeper runs with `--operation=webhook --operation=mutation-webhook --operation=generate`:
 * what the chart's controller-manager runs (`generate` creates each template's Constraint CRD; it
 * would also generate ValidatingAdmissionPolicies from CEL templates, and ours are Rego only), and
 * none of the audit pod's operations (periodic audit of every pod, status folding).
 */
import { accessSync, constants, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, ApiException, CoreV1Api } from '@kubernetes/client-node';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { freePort } from '../../src/dev/ports.ts';
import { startProcess, stopPid, waitUntil, type Started } from '../../src/dev/processes.ts';
import { installCrds } from '../../src/dev/bootstrap.ts';
import { assertLoopbackOnly } from './listeners.ts';
import type { PeerEnv, PeerRow, StepSpec } from './peer.ts';
import { selfSignedCert } from './gatekeeper/cert.ts';
import {
  createAll,
  createSystemNamespace,
  deleteAll,
  deleteCrdsAndNamespace,
  deleteWebhooks,
} from './gatekeeper/install.ts';
import {
  assigns,
  constraints,
  constraintTemplates,
  mutatingWebhook,
  resourceDefaults,
  validatingWebhook,
  type GatekeeperPolicyInput,
  type ResourceDefaults,
  type KubeObject,
} from './gatekeeper/manifests.ts';
import { GATEKEEPER_TOOL_DIR, gatekeeperCrds, gatekeeperVersion, pinnedVersion } from './gatekeeper/module.ts';
import { probes, waitEnforced } from './gatekeeper/probe.ts';

/** The binary tools/build.sh links (`bash tools/build.sh gatekeeper`); KUBIYA_TOOLS_BIN overrides the folder. */
export function gatekeeperBinary(dir = process.env.KUBIYA_TOOLS_BIN ?? join(REPO_ROOT, '.tools', 'bin')): string {
  return join(dir, 'gatekeeper');
}

/** The policy set of every peer row, from the runner's own policy data (policies/data.json). */
export function policyInput(namespace: string): GatekeeperPolicyInput {
  const data = JSON.parse(readFileSync(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')) as {
    kubiya: { settings: { images: { allowedRegistries: string[] }; resources: Record<string, string[]> } };
  };
  const s = data.kubiya.settings;
  return {
    namespace,
    registries: s.images.allowedRegistries,
    requests: s.resources.requireRequests ?? [],
    limits: s.resources.requireLimits ?? [],
  };
}

/** The gatekeeper command line (flags of its main.go; the kubeconfig flag is controller-runtime's). */
export function gatekeeperArgs(o: { kubeconfig: string; certDir: string; port: number; healthPort: number }): string[] {
  return [
    `--kubeconfig=${o.kubeconfig}`,
    '--host=127.0.0.1',
    `--port=${o.port}`,
    `--cert-dir=${o.certDir}`,
    '--disable-cert-rotation',
    `--health-addr=127.0.0.1:${o.healthPort}`,
    '--metrics-addr=0',
    // No metrics listener (red team 4, finding 4): the default backend, prometheus, binds ":8888" on
    // every interface (pkg/metrics/exporters/prometheus, no host flag). The opentelemetry backend
    // only pushes: to a closed loopback port, once a day.
    '--metrics-backend=opentelemetry',
    '--otlp-endpoint=127.0.0.1:9',
    '--otlp-metric-interval=24h',
    '--operation=webhook',
    '--operation=mutation-webhook',
    '--operation=generate',
    '--log-level=WARNING',
    // SIGTERM ends it at once (the default 10 s delay is for a Service's endpoints to drain).
    '--shutdown-delay=0',
  ];
}

const READY_MS = 120_000;

/** What Gatekeeper does not do that the runner does (BENCHMARKS.md's peer table). */
const LACKS = [
  'no token verification (any client with create rights submits)',
  'no signed, hash-chained audit record of the decision',
  'no per-step egress policy (NetworkPolicy)',
  'no workflow state or terminal record',
  'no image-reference grammar check (invalid references are judged by their prefix)',
] as const;

/** Options of the row. */
export interface GatekeeperRowOptions {
  /**
   * Requests/limits defaulted per container before validation, as the runner's serve does with
   * runner.workflow.defaultResources. Default `{}` (none): the contract's fixture "no memory limit"
   * is then denied, as the in-tree row denies it. A runner at its serve defaults admits that step
   * with a 512Mi limit (`kubiya-runner policy eval`); `{ defaultResources: DEFAULT_RESOURCES }`
   * (src/pod/resources.ts) gives this row the same answer.
   */
  readonly defaultResources?: ResourceDefaults;
}

/** The Gatekeeper row (see the module comment). One instance per bench run. */
export function gatekeeperRow(options: GatekeeperRowOptions = {}): PeerRow {
  const defaults = options.defaultResources ?? {};
  const defaulted = Object.keys({ ...defaults.requests, ...defaults.limits }).length > 0;
  let env: PeerEnv | undefined;
  let proc: (Started & { caPem: string; port: number }) | undefined;
  let core: CoreV1Api | undefined;
  let installed: KubeObject[] = [];
  let systemNamespace = '';
  return {
    name: `gatekeeper ${pinnedVersion(readFileSync(join(GATEKEEPER_TOOL_DIR, 'go.mod'), 'utf8')) ?? '?'} + bare create`,
    lacks: LACKS,
    skipReason: () => Promise.resolve(skipReason()),
    async start(e) {
      env = e;
      core = e.kubeConfig.makeApiClient(CoreV1Api);
      systemNamespace = `${e.namespace}-gk`;
      e.log(`  gatekeeper ${await gatekeeperVersion()}: CRDs from the module cache`);
      await installCrds(e.kubeconfigPath, await gatekeeperCrds());
      await createSystemNamespace(e.kubeConfig, systemNamespace, 'gatekeeper');
      proc = await startGatekeeper(e, systemNamespace);
      const input = policyInput(e.namespace);
      installed = [
        ...constraintTemplates(),
        ...constraints(input),
        ...assigns(e.namespace),
        ...resourceDefaults(e.namespace, defaults),
      ];
      await createAll(e.kubeConfig, installed, READY_MS);
      const target = { base: `https://127.0.0.1:${proc.port}`, caPem: proc.caPem, namespace: e.namespace };
      const adm = e.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
      await adm.createMutatingWebhookConfiguration({ body: mutatingWebhook(target) });
      await adm.createValidatingWebhookConfiguration({ body: validatingWebhook(target) });
      const ms = await waitEnforced(core, e.namespace, probes(defaulted), READY_MS);
      e.log(`  gatekeeper: policies enforced ${ms} ms after the webhooks were written`);
    },
    async submit(step: StepSpec) {
      if (env === undefined || core === undefined) throw new Error('gatekeeper row: submit before start');
      try {
        const created = await core.createNamespacedPod({ namespace: env.namespace, body: step.pod });
        return { podName: created.metadata?.name ?? '' };
      } catch (e) {
        if (e instanceof ApiException && e.code >= 400 && e.code < 500)
          throw new Error(`denied (HTTP ${e.code}): ${String(e.body).slice(0, 500)}`, { cause: e });
        throw e;
      }
    },
    terminalRecordAt: () => Promise.resolve(undefined),
    async reset() {
      if (env === undefined || core === undefined) return;
      await core.deleteCollectionNamespacedPod({ namespace: env.namespace, gracePeriodSeconds: 0 });
    },
    pids: () => (proc === undefined ? [] : [proc.pid]),
    async stop() {
      if (env === undefined) return;
      const kc = env.kubeConfig;
      await deleteWebhooks(kc);
      await deleteAll(kc, [...installed].reverse());
      if (proc !== undefined) await stopPid(proc.pid, 15_000);
      proc = undefined;
      const left = await deleteCrdsAndNamespace(kc, systemNamespace, 30_000);
      if (left.length > 0) env.log(`  gatekeeper: CRDs still terminating after 30 s: ${left.join(', ')}`);
    },
  };
}

/** Why the row cannot run here (the binary is not built); undefined when it can. start() also needs the openssl CLI. */
export function skipReason(binary = gatekeeperBinary()): string | undefined {
  try {
    accessSync(binary, constants.X_OK);
    return undefined;
  } catch {
    return `gatekeeper is not built (${binary}): run "bash tools/build.sh gatekeeper" (a cold build of about 0.86x kube-apiserver's)`;
  }
}

/** Certificate, free ports, the process (POD_NAMESPACE/POD_NAME name its status objects' owner), its /readyz. */
async function startGatekeeper(e: PeerEnv, namespace: string): Promise<Started & { caPem: string; port: number }> {
  const certDir = join(e.workDir, 'gatekeeper-certs');
  mkdirSync(certDir, { recursive: true });
  const { certPem } = await selfSignedCert(certDir);
  const [port, healthPort] = [await freePort(), await freePort()];
  const args = gatekeeperArgs({ kubeconfig: e.kubeconfigPath, certDir, port, healthPort });
  const log = join(e.workDir, 'gatekeeper.log');
  const env = { ...process.env, POD_NAMESPACE: namespace, POD_NAME: 'gatekeeper' };
  const started = startProcess('gatekeeper', gatekeeperBinary(), args, log, false, env);
  e.log(`  gatekeeper: pid ${started.pid}, webhook 127.0.0.1:${port}, log ${log}`);
  await waitUntil(
    'gatekeeper /readyz',
    async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status === 200,
    READY_MS,
    started,
  );
  await assertLoopbackOnly('gatekeeper', started.pid).catch(async (error: unknown) => {
    await stopPid(started.pid);
    throw error;
  });
  return { ...started, caPem: certPem, port };
}
