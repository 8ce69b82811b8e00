import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import type { Step, Workflow } from '../validate/schema.ts';
import { durationSeconds } from './duration.ts';
import { MAIN_CONTAINER, normaliseMountPath } from '../validate/layout.ts';
import { LABELS, podName, volumeClaimName } from './names.ts';
import { containerResources, type ResourceDefaults, type ResourceSpec } from './resources.ts';
import { identity, placementFields, sidecarFields } from './workload.ts';

export interface PodContext {
  readonly runner: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly defaultTimeoutSeconds: number;
  /** The run's name, for the PVC names of workflow volumes (see volumes.ts). */
  readonly run?: string | undefined;
  /** sizeLimit of the /workspace emptyDir (runner.storage.workspaceSize). */
  readonly workspaceSize?: string | undefined;
  /**
   * Requests/limits for whatever a container's spec leaves out or sets to zero, on every container
   * kind (runner.workflow.defaultResources). Absent: none (the policy decides what is required).
   */
  readonly defaultResources?: ResourceDefaults | undefined;
}

type EnvSpec = NonNullable<Step['env']>;

/** env values stay plain; secret references become secretKeyRef (the value never enters the spec). */
function envVars(env: EnvSpec | undefined): V1EnvVar[] | undefined {
  if (env === undefined) return undefined;
  return Object.entries(env).map(([name, value]) =>
    typeof value === 'string'
      ? { name, value }
      : { name, valueFrom: { secretKeyRef: { name: value.secretRef.secret, key: value.secretRef.key } } },
  );
}

interface ContainerSpec {
  name: string;
  image: string;
  command?: string[] | undefined;
  args?: string[] | undefined;
  env?: EnvSpec | undefined;
  resources?: ResourceSpec | undefined;
}

/** One container of any kind, bounded: its resources, zero as absent, then the defaults. */
function container(
  c: ContainerSpec,
  defaults: ResourceDefaults | undefined,
  extraLimits?: Record<string, string>,
): V1Container {
  const env = envVars(c.env);
  const resources = containerResources(c.resources, defaults, extraLimits);
  return {
    name: c.name,
    image: c.image,
    ...(c.command !== undefined ? { command: c.command } : {}),
    ...(c.args !== undefined ? { args: c.args } : {}),
    ...(env !== undefined ? { env } : {}),
    ...(resources !== undefined ? { resources } : {}),
  };
}

/**
 * The pod of one step, as the seed shows it: name workflow-<id>-step-<name>-<hash> (id: the run's
 * id; the hash of run id and step keeps two runs from ever sharing a name, see names.ts), the
 * kubiya.ai labels,
 * restartPolicy Never, the step's or else the configured service account (the legacy token never
 * mounted; a projected, audience-bound token only when the step asks, see workload.ts), the step's
 * pull secrets, nodeSelector and tolerations, a deadline. Init
 * containers run first, then sidecars as native sidecars (init containers with restartPolicy
 * Always) so they stop when the step does. Every container is bounded (issue 14 §3): its own
 * requests/limits, a zero taken as none, and ctx.defaultResources for the rest. Mount paths are
 * written normalised, as validation compared them. Not yet hardened: that is mutate's job.
 */
export function buildPod(workflow: Workflow, step: Step, ctx: PodContext): V1Pod {
  const gpu = step.resources?.gpu;
  const main: V1Container = container(
    { ...step, name: MAIN_CONTAINER },
    ctx.defaultResources,
    gpu !== undefined && gpu > 0 ? { 'nvidia.com/gpu': String(gpu) } : {},
  );
  if (step.envFrom !== undefined) main.envFrom = step.envFrom.map((e) => ({ secretRef: { name: e.secret } }));
  main.volumeMounts = [
    { name: 'workspace', mountPath: '/workspace' },
    ...(step.volumes ?? []).map((v) => ({
      name: `vol-${v.name}`,
      mountPath: normaliseMountPath(v.mount),
      ...(v.readOnly === true ? { readOnly: true } : {}),
    })),
  ];
  const id = identity(step, ctx.serviceAccount);
  if (id.mount !== undefined) main.volumeMounts.push(id.mount);
  if (id.env !== undefined) main.env = [...(main.env ?? []), id.env];
  main.workingDir = '/workspace';
  const claims = (step.volumes ?? []).map((v) => ({
    name: `vol-${v.name}`,
    persistentVolumeClaim: {
      claimName: volumeClaimName(ctx.run ?? `wr-${workflow.runId}`, v.volume),
      ...(v.readOnly === true ? { readOnly: true } : {}),
    },
  }));

  const initContainers: V1Container[] = [
    ...(step.initContainers ?? []).map((c) => container(c, ctx.defaultResources)),
    ...(step.sidecars ?? []).map((s) => ({
      ...container(s, ctx.defaultResources),
      ...sidecarFields(s),
      restartPolicy: 'Always',
    })),
  ];

  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName(workflow.runId, step.name),
      namespace: ctx.namespace,
      labels: {
        [LABELS.workflow]: workflow.id,
        [LABELS.step]: step.name,
        [LABELS.runner]: ctx.runner,
        [LABELS.run]: workflow.runId,
      },
    },
    spec: {
      restartPolicy: 'Never',
      serviceAccountName: id.serviceAccountName,
      automountServiceAccountToken: false,
      ...placementFields(step),
      activeDeadlineSeconds: step.timeout !== undefined ? durationSeconds(step.timeout) : ctx.defaultTimeoutSeconds,
      ...(initContainers.length > 0 ? { initContainers } : {}),
      containers: [main],
      volumes: [
        { name: 'workspace', emptyDir: ctx.workspaceSize !== undefined ? { sizeLimit: ctx.workspaceSize } : {} },
        ...claims,
        ...(id.volume !== undefined ? [id.volume] : []),
      ],
    },
  };
}
