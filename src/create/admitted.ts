/**
 * What the API server's admission did to a step pod after the policy decided on it (red team 8,
 * finding 4; issue 19: "no field reaches a pod without a decision"). Admission may change a pod on
 * its way in: the ServiceAccount plugin copies the account's `imagePullSecrets` into a pod that
 * names none, a mutating webhook may add a container, a toleration, a volume or pin an image.
 * The created pod (the API server's answer) is compared with the decided one on every field the
 * policy and the restricted mutation decide on, modulo what the API server only defaults.
 * Pure.
 */
import type { V1Container, V1Pod, V1PodSpec, V1Toleration, V1Volume } from '@kubernetes/client-node';
import { canonicalJson } from '../audit/canonical.ts';

/**
 * The tolerations the API server adds to pods on its own (Kubernetes docs, "Taints and
 * Tolerations"): DefaultTolerationSeconds' NoExecute ones for not-ready and unreachable nodes (they
 * only bound how long a pod stays on such a node), and the NoSchedule one for memory pressure that
 * every pod but a BestEffort one gets ("Taint Nodes by Condition"). Keyed `key/effect`.
 */
const DEFAULT_TOLERATIONS = new Set([
  'node.kubernetes.io/not-ready/NoExecute',
  'node.kubernetes.io/unreachable/NoExecute',
  'node.kubernetes.io/memory-pressure/NoSchedule',
]);

/** The API server's default lifetime of a projected serviceAccountToken (seconds). */
const DEFAULT_TOKEN_SECONDS = 3600;

const sortedEntries = (m: Readonly<Record<string, string>> | undefined): string[][] =>
  Object.entries(m ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

const toleration = (t: V1Toleration): unknown => [
  t.key ?? '',
  t.operator ?? 'Equal',
  t.value ?? '',
  t.effect ?? '',
  t.tolerationSeconds ?? null,
];

const placedBy = (t: V1Toleration): boolean =>
  !(t.operator === 'Exists' && DEFAULT_TOLERATIONS.has(`${t.key ?? ''}/${t.effect ?? ''}`));

/** A volume by what it exposes: its name, its source's kind and what that source names. */
function volume(v: V1Volume): unknown {
  return [
    v.name,
    v.secret?.secretName ?? null,
    v.configMap?.name ?? null,
    v.persistentVolumeClaim?.claimName ?? null,
    v.hostPath?.path ?? null,
    v.emptyDir !== undefined,
    (v.projected?.sources ?? []).map((s) => [
      s.serviceAccountToken?.audience ?? null,
      s.serviceAccountToken?.path ?? null,
      s.serviceAccountToken === undefined ? null : (s.serviceAccountToken.expirationSeconds ?? DEFAULT_TOKEN_SECONDS),
      s.secret?.name ?? null,
      s.configMap?.name ?? null,
      s.downwardAPI !== undefined,
    ]),
    Object.keys(v)
      .filter((k) => k !== 'name')
      .sort(),
  ];
}

/** A container by what runs and what it reaches (never what the API server only defaults). */
function container(c: V1Container): unknown {
  return {
    name: c.name,
    image: c.image ?? '',
    command: c.command ?? [],
    args: c.args ?? [],
    env: (c.env ?? []).map((e) => [
      e.name,
      e.value ?? null,
      e.valueFrom?.secretKeyRef?.name ?? null,
      e.valueFrom?.secretKeyRef?.key ?? null,
      e.valueFrom?.configMapKeyRef?.name ?? null,
      e.valueFrom?.fieldRef?.fieldPath ?? null,
    ]),
    envFrom: (c.envFrom ?? []).map((e) => [e.secretRef?.name ?? null, e.configMapRef?.name ?? null, e.prefix ?? '']),
    volumeMounts: (c.volumeMounts ?? []).map((m) => [m.name, m.mountPath, m.readOnly === true, m.subPath ?? '']),
    ports: (c.ports ?? []).map((p) => [p.containerPort, p.hostPort ?? null, p.hostIP ?? null]),
    securityContext: c.securityContext ?? {},
    restartPolicy: c.restartPolicy ?? null,
  };
}

/** Each decided field of a pod spec, by its path, as a comparable value. */
function decidedFields(pod: V1Pod): Record<string, unknown> {
  const spec: V1PodSpec = pod.spec ?? { containers: [] };
  return { ...identity(spec), ...placement(spec), ...isolation(spec), ...workload(spec) };
}

/** Who the pod runs as, and with which registry credentials. */
const identity = (spec: V1PodSpec): Record<string, unknown> => ({
  'spec.serviceAccountName': spec.serviceAccountName ?? null,
  'spec.automountServiceAccountToken': spec.automountServiceAccountToken ?? null,
  'spec.imagePullSecrets': (spec.imagePullSecrets ?? []).map((s) => s.name ?? ''),
});

/** Where the pod may run. */
const placement = (spec: V1PodSpec): Record<string, unknown> => ({
  'spec.nodeSelector': sortedEntries(spec.nodeSelector),
  'spec.tolerations': (spec.tolerations ?? []).filter(placedBy).map(toleration),
  'spec.affinity': spec.affinity ?? null,
  'spec.runtimeClassName': spec.runtimeClassName ?? null,
});

/** What the pod shares with its node and its containers, and as whom they run. */
const isolation = (spec: V1PodSpec): Record<string, unknown> => ({
  'spec.hostNetwork': spec.hostNetwork === true,
  'spec.hostPID': spec.hostPID === true,
  'spec.hostIPC': spec.hostIPC === true,
  'spec.shareProcessNamespace': spec.shareProcessNamespace === true,
  'spec.securityContext': spec.securityContext ?? {},
});

/** What runs, and what it mounts. */
const workload = (spec: V1PodSpec): Record<string, unknown> => ({
  'spec.volumes': (spec.volumes ?? []).map(volume),
  // `containers` is required by the type, not by whatever answered: never trusted to be there.
  'spec.containers': Array.isArray(spec.containers) ? spec.containers.map(container) : [],
  'spec.initContainers': (spec.initContainers ?? []).map(container),
  'spec.ephemeralContainers': (spec.ephemeralContainers ?? []).map((c) => container(c as V1Container)),
});

/**
 * The paths of the fields (`spec.imagePullSecrets`, `spec.containers`, ...) on which `admitted`
 * (the pod the API server created or holds) differs from `decided` (the hardened pod the policy
 * allowed and the audit log recorded); empty when none does. A pod the API server did not return
 * differs in every field the decision has.
 */
export function alteredFields(decided: V1Pod, admitted: V1Pod | undefined): string[] {
  const want = decidedFields(decided);
  const got = decidedFields(admitted ?? {});
  // Canonical JSON (members sorted): the API server answers with its own member order.
  return Object.keys(want).filter((path) => canonicalJson(want[path]) !== canonicalJson(got[path]));
}
