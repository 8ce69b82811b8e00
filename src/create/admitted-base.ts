/**
 * What the API server's admission did to a step pod after the policy decided on it (red team 8,
 * finding 4; issue 19: "no field reaches a pod without a decision"). Admission may change a pod on
 * its way in: the ServiceAccount plugin copies the account's `imagePullSecrets` into a pod that
 * names none; a mutating webhook may pin or swap an image, add env or a volume, loosen a security
 * context. The created pod (the API server's answer) is compared with the decided one on what the
 * pod is granted and what it runs: its identity and registry credentials, its host namespaces and
 * security contexts, its volumes, and each container the policy decided on (found by name).
 *
 * Not compared, by design, because platform teams own them and the runner's own real node uses
 * them: placement added by admission (PodNodeSelector, PodTolerationRestriction, a webhook's
 * affinity) and containers that admission adds beside the decided ones (a platform's injected
 * init container or sidecar; the workflows namespace's PodSecurity `restricted` still applies to
 * them). Pure.
 */
import type { V1Container, V1LifecycleHandler, V1Pod, V1PodSpec, V1Probe, V1Volume } from '@kubernetes/client-node';
import { canonicalJson } from '../audit/canonical.ts';

/** The API server's default lifetime of a projected serviceAccountToken (seconds). */
const DEFAULT_TOKEN_SECONDS = 3600;

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

/**
 * A probe's or a lifecycle hook's handler by what it runs or reaches: an exec's command (run in the
 * container), an HTTP GET's or TCP socket's host, port and path, a gRPC port, a sleep; never its
 * timing or scheme (the API server defaults those). Null when there is none. A webhook that adds a
 * postStart exec or swaps a sidecar's probe command runs code in a decided container (red team 10,
 * finding 2).
 */
function handler(h: V1LifecycleHandler | V1Probe | undefined): unknown {
  if (h === undefined) return null;
  const grpc = 'grpc' in h ? h.grpc : undefined;
  return [
    h.exec?.command ?? null,
    h.httpGet === undefined ? null : [h.httpGet.host ?? null, h.httpGet.port, h.httpGet.path ?? null],
    h.tcpSocket === undefined ? null : [h.tcpSocket.host ?? null, h.tcpSocket.port],
    grpc === undefined ? null : [grpc.port, grpc.service ?? null],
    'sleep' in h && h.sleep !== undefined ? h.sleep.seconds : null,
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
    postStart: handler(c.lifecycle?.postStart),
    preStop: handler(c.lifecycle?.preStop),
    readinessProbe: handler(c.readinessProbe),
    startupProbe: handler(c.startupProbe),
    livenessProbe: handler(c.livenessProbe),
  };
}

/**
 * Each compared field of a pod spec, by its path, as a comparable value; containers only those
 * named in `names` (by kind), in their order, when given.
 */
function comparedFields(pod: V1Pod, names?: ContainerNames): Record<string, unknown> {
  const spec: V1PodSpec = pod.spec ?? { containers: [] };
  return { ...identity(spec), ...isolation(spec), ...workload(spec, names) };
}

interface ContainerNames {
  readonly containers: ReadonlySet<string>;
  readonly initContainers: ReadonlySet<string>;
  readonly ephemeralContainers: ReadonlySet<string>;
}

/** Who the pod runs as, and with which registry credentials. */
const identity = (spec: V1PodSpec): Record<string, unknown> => ({
  'spec.serviceAccountName': spec.serviceAccountName ?? null,
  'spec.automountServiceAccountToken': spec.automountServiceAccountToken ?? null,
  'spec.imagePullSecrets': (spec.imagePullSecrets ?? []).map((s) => s.name ?? ''),
});

/** What the pod shares with its node and its containers, and as whom and how they run. */
const isolation = (spec: V1PodSpec): Record<string, unknown> => ({
  'spec.hostNetwork': spec.hostNetwork === true,
  'spec.hostPID': spec.hostPID === true,
  'spec.hostIPC': spec.hostIPC === true,
  'spec.shareProcessNamespace': spec.shareProcessNamespace === true,
  'spec.securityContext': spec.securityContext ?? {},
  'spec.runtimeClassName': spec.runtimeClassName ?? null,
});

/** The containers of one kind (the decided ones by name when `names` is given), compared. */
function some(list: readonly V1Container[] | undefined, names: ReadonlySet<string> | undefined): unknown[] {
  // A list is required by the type for `containers`, not by whatever answered: never trusted to be there.
  const all: readonly V1Container[] = Array.isArray(list) ? list : [];
  return (names === undefined ? all : all.filter((c) => names.has(c.name))).map(container);
}

/** What runs, and what it mounts. */
const workload = (spec: V1PodSpec, names?: ContainerNames): Record<string, unknown> => ({
  'spec.volumes': (spec.volumes ?? []).map(volume),
  'spec.containers': some(spec.containers, names?.containers),
  'spec.initContainers': some(spec.initContainers, names?.initContainers),
  'spec.ephemeralContainers': some(spec.ephemeralContainers, names?.ephemeralContainers),
});

const namesOf = (list: readonly { name: string }[] | undefined): ReadonlySet<string> =>
  new Set((list ?? []).map((c) => c.name));

/**
 * The paths of the fields (`spec.imagePullSecrets`, `spec.containers`, ...) on which `admitted`
 * (the pod the API server created or holds) differs from `decided` (the hardened pod the policy
 * allowed and the audit log recorded); empty when none does. A container admission added beside
 * the decided ones is not a difference; a decided one changed or gone is. A pod the API server
 * did not return differs in every field the decision has.
 */
export function alteredFields(decided: V1Pod, admitted: V1Pod | undefined): string[] {
  const want = comparedFields(decided);
  const got = comparedFields(admitted ?? {}, {
    containers: namesOf(decided.spec?.containers),
    initContainers: namesOf(decided.spec?.initContainers),
    ephemeralContainers: namesOf(decided.spec?.ephemeralContainers),
  });
  // Canonical JSON (members sorted): the API server answers with its own member order.
  return Object.keys(want).filter((path) => canonicalJson(want[path]) !== canonicalJson(got[path]));
}
