/**
 * The pure parts of the Argo Workflows peer rows (issue 20 §1): the controller's flags and
 * environment for the "defaults" and "tuned" rows, its ConfigMap, and the one-step Workflow that
 * carries the bench's unhardened step pod. No I/O here (see controller.ts and ../argo.ts).
 *
 * Source of every knob: argo-workflows v4.0.5, cmd/workflow-controller/main.go (flags, env
 * LEADER_ELECTION_DISABLE), workflow/controller/rate_limiters.go (DEFAULT_REQUEUE_TIME, 10 s),
 * config/config.go (ConfigMap fields), workflow/util/pod_name.go (pod names),
 * workflow/controller/workflowpod.go (how a template becomes a pod).
 */
import type { V1Container, V1Pod, V1PodSecurityContext, V1SecurityContext } from '@kubernetes/client-node';

/** The pinned version (tools/argo/go.mod); the row names carry it. */
export const ARGO_VERSION = 'v4.0.5';

/** Never pulled under kwok; named so the pod looks like a real v4.0.5 install. */
export const EXECUTOR_IMAGE = `quay.io/argoproj/argoexec:${ARGO_VERSION}`;

/** The controller's ConfigMap (its --configmap default). It must exist: the controller exits without it. */
export const CONFIGMAP_NAME = 'workflow-controller-configmap';

/** Label on every Workflow this row submits, so reset() and the watches select only ours. */
export const BENCH_LABEL = 'kubiya.ai/bench-peer';

/** A controller profile: the client and queue knobs that decide Argo's throughput. */
export interface ArgoProfile {
  readonly id: 'defaults' | 'tuned';
  /** --qps / --burst of the controller's Kubernetes client (code defaults 20 / 30). */
  readonly qps: number;
  readonly burst: number;
  /** --workflow-workers (default 32) and --pod-cleanup-workers (default 4). */
  readonly workflowWorkers: number;
  readonly podCleanupWorkers: number;
  /** DEFAULT_REQUEUE_TIME: the fixed per-workflow requeue interval after a pod event (default 10 s, minimum 1 s). */
  readonly requeue: string;
}

/** Argo as installed: every value is the v4.0.5 code default (flags left unset). */
export const DEFAULTS: ArgoProfile = {
  id: 'defaults',
  qps: 20,
  burst: 30,
  workflowWorkers: 32,
  podCleanupWorkers: 4,
  requeue: '10s',
};

/**
 * Argo tuned as its scaling guide and the CNOE tests suggest: client limits ×10, twice the workers,
 * four times the cleanup workers (fewer crashes at high worker counts), and the 1 s minimum requeue
 * that rate_limiters.go names for workflows of short nodes.
 */
export const TUNED: ArgoProfile = {
  id: 'tuned',
  qps: 200,
  burst: 300,
  workflowWorkers: 64,
  podCleanupWorkers: 16,
  requeue: '1s',
};

/**
 * Command line of `workflow-controller` for a profile. `--namespaced` scopes its informers to the
 * row's namespace (Argo's namespace-install mode), so two Argo rows never act on each other's
 * Workflows; at defaults no client or worker flag is passed at all, so the code defaults apply.
 */
export function controllerArgs(profile: ArgoProfile, kubeconfigPath: string, namespace: string): string[] {
  const args = [
    `--kubeconfig=${kubeconfigPath}`,
    `--namespace=${namespace}`,
    '--namespaced',
    `--configmap=${CONFIGMAP_NAME}`,
    `--executor-image=${EXECUTOR_IMAGE}`,
    '--loglevel=warn',
  ];
  if (profile.id === 'defaults') return args;
  return [
    ...args,
    `--qps=${profile.qps}`,
    `--burst=${profile.burst}`,
    `--workflow-workers=${profile.workflowWorkers}`,
    `--pod-cleanup-workers=${profile.podCleanupWorkers}`,
  ];
}

/** Environment of the controller: single instance out of cluster; the requeue only when tuned. */
export function controllerEnv(profile: ArgoProfile): Record<string, string> {
  const env: Record<string, string> = { LEADER_ELECTION_DISABLE: 'true' };
  if (profile.id !== 'defaults') env['DEFAULT_REQUEUE_TIME'] = profile.requeue;
  return env;
}

/** The restricted hardening, the same values as the runner's bench profile (uid/gid 65532). */
export const RESTRICTED_CONTAINER: Readonly<V1SecurityContext> = Object.freeze({
  allowPrivilegeEscalation: false,
  privileged: false,
  capabilities: { drop: ['ALL'] },
  runAsNonRoot: true,
  seccompProfile: { type: 'RuntimeDefault' },
});
export const RESTRICTED_POD: Readonly<V1PodSecurityContext> = Object.freeze({
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  fsGroup: 65532,
  seccompProfile: { type: 'RuntimeDefault' },
});

/**
 * The controller's configuration (one `config` key, JSON being YAML). What Argo hardens ITSELF once
 * an admin configures it: its own `init`/`wait` containers (`executor`), the `main` container
 * (`mainContainer`, merged under the template's own values) and the pod security context
 * (`workflowDefaults`). Metrics and telemetry servers are off: they would listen on all interfaces.
 */
export function controllerConfig(): Record<string, string> {
  const config = {
    executor: { securityContext: RESTRICTED_CONTAINER },
    mainContainer: { securityContext: RESTRICTED_CONTAINER },
    workflowDefaults: { spec: { securityContext: RESTRICTED_POD } },
    metricsConfig: { enabled: false },
    telemetryConfig: { enabled: false },
  };
  return { config: JSON.stringify(config) };
}

/**
 * Argo needs every non-Argo container's command: without one it asks the image's registry for the
 * entrypoint (workflowpod.go, "failed to look-up entrypoint/cmd"), which cannot work offline. A
 * container without a command gets this stand-in; kwok never executes it.
 */
export const STANDIN_COMMAND: readonly string[] = ['/bin/sh'];

/**
 * What Argo does NOT harden and a user must therefore write into each Workflow: the user's own init
 * containers and sidecars get the restricted container context (fields the pod already sets win,
 * so a privileged container stays privileged and is refused, not silently fixed).
 */
function userContainer(c: V1Container, needsCommand: boolean): V1Container {
  const out: V1Container = { ...c, securityContext: { ...RESTRICTED_CONTAINER, ...c.securityContext } };
  if (needsCommand && (c.command === undefined || c.command.length === 0)) out.command = [...STANDIN_COMMAND];
  return out;
}

/** The template's main container: Argo renames it `main` and applies `mainContainer` itself. */
function mainContainer(c: V1Container): V1Container {
  if (c.command !== undefined && c.command.length > 0) return { ...c };
  return { ...c, command: [...STANDIN_COMMAND] };
}

/** A Workflow custom object (argoproj.io/v1alpha1), as submitted. */
export interface WorkflowObject {
  readonly apiVersion: 'argoproj.io/v1alpha1';
  readonly kind: 'Workflow';
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels: Record<string, string> };
  readonly spec: Record<string, unknown>;
}

/**
 * The one-step Workflow for an unhardened step pod. Its name is the pod's name, and it is also the
 * name of the pod Argo creates: for a Workflow whose entrypoint is a container template, the root
 * node's name is the Workflow's name and v2 pod names (the v4 default, POD_NAMES unset) of a node
 * named like its Workflow are that name (workflow/util/pod_name.go GeneratePodName). Argo also
 * writes that name into the label workflows.argoproj.io/workflow, so it must fit a label (≤ 63).
 * The template declares no outputs, so the pod's Succeeded phase completes the node without any
 * executor running (no WorkflowTaskResult is awaited).
 * Errors: throws when the pod has no name, no container, or a name longer than 63 characters.
 */
export function workflowFor(pod: V1Pod, namespace: string, rowLabel: string): WorkflowObject {
  const name = pod.metadata?.name ?? '';
  const spec = pod.spec;
  const [main, ...sidecars] = spec?.containers ?? [];
  if (name === '' || name.length > 63)
    throw new Error(`argo: the step pod's name must have 1..63 characters: "${name}"`);
  if (spec === undefined || main === undefined) throw new Error(`argo: step pod ${name} has no container`);
  const template: Record<string, unknown> = {
    name: 'step',
    metadata: { labels: { ...pod.metadata?.labels, [BENCH_LABEL]: rowLabel } },
    container: mainContainer(main),
    ...(spec.initContainers !== undefined && {
      initContainers: spec.initContainers.map((c) => userContainer(c, false)),
    }),
    ...(sidecars.length > 0 && { sidecars: sidecars.map((c) => userContainer(c, true)) }),
    ...(spec.volumes !== undefined && { volumes: spec.volumes }),
    ...(spec.activeDeadlineSeconds !== undefined && { activeDeadlineSeconds: spec.activeDeadlineSeconds }),
    ...(spec.securityContext !== undefined && { securityContext: { ...RESTRICTED_POD, ...spec.securityContext } }),
  };
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata: { name, namespace, labels: { [BENCH_LABEL]: rowLabel } },
    spec: {
      entrypoint: 'step',
      ...(spec.serviceAccountName !== undefined && { serviceAccountName: spec.serviceAccountName }),
      ...(spec.nodeSelector !== undefined && { nodeSelector: spec.nodeSelector }),
      ...(spec.tolerations !== undefined && { tolerations: spec.tolerations }),
      templates: [template],
    },
  };
}
