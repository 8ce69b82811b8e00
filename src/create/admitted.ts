/**
 * What the API server's admission did to a step pod after the policy decided on it (red team 8,
 * finding 4; red team 10, finding 2; issue 19: "no field reaches a pod without a decision").
 * Admission may change a pod on its way in: the ServiceAccount plugin copies the account's
 * `imagePullSecrets` into a pod that names none; a mutating webhook may pin or swap an image, add
 * env, a volume, a hostAlias, a DNS config, resources, loosen a security context.
 *
 * The whole pod spec is compared, not a list of fields: the created pod (the API server's answer)
 * with the decided one, field by field as client-node's model has them (pod-canonical.ts), after
 * the API server's own defaults are filled into both (pod-defaults.ts). A field passes when it is
 * the decided value, or absent from the decision and equal to its API server default; anything
 * else a mutation adds or changes is reported, including a field the model does not know
 * (fail closed; an empty value of one passes).
 *
 * Not compared, by design, because platform teams own them and the runner's own real node uses
 * them (PLACEMENT): where the pod runs (nodeName, nodeSelector, affinity, tolerations, topology
 * spread, scheduling gates) and its priority (priorityClassName and the priority and preemption
 * policy the Priority plugin copies from it), and the overhead the RuntimeClass plugin copies from
 * the (compared) runtimeClassName; and containers that admission adds beside the decided ones (a
 * platform's injected init container or sidecar; the workflows namespace's PodSecurity
 * `restricted` still applies to them), unless one asks for a privilege the restricted standard
 * forbids in its own fields (`escalates`): that is reported whatever the namespace's PodSecurity
 * label (red team 11: the runner does not check it, and an existing namespace need not have it).
 *
 * Of the metadata (red team 11): the labels, whole (a label selects the pod into a NetworkPolicy:
 * one admission adds or changes can grant egress no decision granted, e.g. another step's policy
 * selecting it by run and step), and the annotations that are security settings (AppArmor's and
 * seccomp's legacy ones), added, changed or gone. Other annotations pass (platforms annotate pods
 * freely, and nothing reads them as a grant). Pure.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { absentValue, canonical, put, sameValue } from './pod-canonical.ts';
import { apiDefaulted } from './pod-defaults.ts';
import { isRecord, modelFields } from './pod-model.ts';
import { APPARMOR_ANNOTATION, safeSeLinuxType } from '../mutate/contexts.ts';

/**
 * Pod spec fields owned by the platform, never compared: placement, priority, and the overhead
 * the RuntimeClass admission plugin derives from the decided runtimeClassName. A closed list.
 */
export const PLACEMENT: ReadonlySet<string> = new Set([
  'nodeName',
  'nodeSelector',
  'affinity',
  'tolerations',
  'topologySpreadConstraints',
  'schedulingGates',
  'priorityClassName',
  'priority',
  'preemptionPolicy',
  'overhead',
]);

/** The container lists: of these, only the containers the decision named are compared. */
const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'] as const;

/** The type of each pod spec field, by its JSON name. */
const SPEC_TYPES: ReadonlyMap<string, string> = new Map(
  (modelFields('V1PodSpec') ?? []).map((f) => [f.baseName, f.type]),
);

/** Each compared field of a (defaulted) pod spec, by its JSON name, in canonical form. */
function comparedFields(spec: Record<string, unknown>): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [name, value] of Object.entries(spec)) {
    if (PLACEMENT.has(name)) continue;
    const type = SPEC_TYPES.get(name);
    // A field the model does not know: compared as sent, unless empty (pod-canonical.ts).
    if (type === undefined && absentValue(value)) continue;
    const c = canonical(value, type ?? 'unknown', `V1PodSpec.${name}`);
    if (c !== undefined) out.set(name, c);
  }
  return out;
}

/** A container's name ("" when it has none, as the API server omits an empty one). */
const nameOf = (c: unknown): string => (isRecord(c) && typeof c.name === 'string' ? c.name : '');

/**
 * The admitted spec with, of each container list, only the containers the decision named (in their
 * order); returns the lists (`spec.initContainers`, ...) where a container admission added
 * `escalates`.
 */
function decidedContainersOnly(admitted: Record<string, unknown>, decided: Record<string, unknown>): string[] {
  const escalating: string[] = [];
  for (const list of CONTAINER_LISTS) {
    const names = new Set((Array.isArray(decided[list]) ? decided[list] : []).map(nameOf));
    const got = admitted[list];
    // A list is required by the type for `containers`, not by whatever answered: never trusted to be there.
    if (!Array.isArray(got)) continue;
    if (got.some((c) => isRecord(c) && !names.has(nameOf(c)) && escalates(c))) escalating.push(`spec.${list}`);
    admitted[list] = got.filter((c) => isRecord(c) && names.has(nameOf(c)));
  }
  return escalating;
}

/**
 * Whether a container asks, in its own fields, for a privilege the restricted Pod Security
 * Standard forbids: privileged, privilege escalation allowed, root (`runAsUser: 0`,
 * `runAsNonRoot: false`), a capability added other than NET_BIND_SERVICE, seccomp or AppArmor
 * `Unconfined`, an unmasked /proc, a Windows host process, an SELinux user, role or type baseline
 * does not allow, or a host port. (What it leaves unset it inherits from the decided pod's
 * security context, which is compared.)
 */
export function escalates(c: Record<string, unknown>): boolean {
  const ports = Array.isArray(c.ports) ? c.ports : [];
  return (
    (isRecord(c.securityContext) && contextEscalates(c.securityContext)) ||
    ports.some((p) => isRecord(p) && typeof p.hostPort === 'number' && p.hostPort !== 0)
  );
}

/** escalates' test of a container's security context. */
function contextEscalates(sc: Record<string, unknown>): boolean {
  const added = isRecord(sc.capabilities) && Array.isArray(sc.capabilities.add) ? sc.capabilities.add : [];
  const type = (p: unknown): unknown => (isRecord(p) ? p.type : undefined);
  const windows = isRecord(sc.windowsOptions) ? sc.windowsOptions : {};
  return (
    sc.privileged === true ||
    sc.allowPrivilegeEscalation === true ||
    sc.runAsUser === 0 ||
    sc.runAsNonRoot === false ||
    added.some((cap) => cap !== 'NET_BIND_SERVICE') ||
    type(sc.seccompProfile) === 'Unconfined' ||
    type(sc.appArmorProfile) === 'Unconfined' ||
    sc.procMount === 'Unmasked' ||
    windows.hostProcess === true ||
    seLinuxEscalates(sc.seLinuxOptions)
  );
}

/** SELinux options with a user or role, or a type baseline does not allow. */
function seLinuxEscalates(se: unknown): boolean {
  if (!isRecord(se)) return false;
  const given = (v: unknown): boolean => v !== undefined && v !== null && v !== '';
  return given(se.user) || given(se.role) || (given(se.type) && !safeSeLinuxType(se.type));
}

/**
 * Annotation prefixes read as a security setting: AppArmor's legacy per-container annotation (the
 * API server copies it into the container's appArmorProfile since v1.30, the kubelet honours it)
 * and seccomp's legacy pod and per-container ones. A closed list.
 */
export const SECURITY_ANNOTATIONS: readonly string[] = [
  APPARMOR_ANNOTATION,
  'seccomp.security.alpha.kubernetes.io/',
  'container.seccomp.security.alpha.kubernetes.io/',
];

/** A metadata map's own members (labels or annotations; `{}` for none), those `keep` keeps. */
function ownMembers(m: unknown, keep: (key: string) => boolean = () => true): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isRecord(m)) return out;
  for (const k of Object.keys(m)) if (m[k] !== undefined && m[k] !== null && keep(k)) put(out, k, m[k]);
  return out;
}

/** `metadata.labels` and `metadata.annotations` when admission changed them (see the file's comment). */
function alteredMetadata(decided: V1Pod, admitted: V1Pod | undefined): string[] {
  const out: string[] = [];
  if (!sameValue(ownMembers(decided.metadata?.labels), ownMembers(admitted?.metadata?.labels)))
    out.push('metadata.labels');
  const security = (k: string): boolean => SECURITY_ANNOTATIONS.some((p) => k.startsWith(p));
  const want = ownMembers(decided.metadata?.annotations, security);
  if (!sameValue(want, ownMembers(admitted?.metadata?.annotations, security))) out.push('metadata.annotations');
  return out;
}

/**
 * The paths of the fields (`metadata.labels`, `spec.imagePullSecrets`, `spec.containers`, ...) on which `admitted`
 * (the pod the API server created or holds) differs from `decided` (the hardened pod the policy
 * allowed and the audit log recorded); empty when none does. A container admission added beside
 * the decided ones is not a difference; a decided one changed or gone is. A pod the API server
 * did not return, or returned without its spec, differs in every field the decision has.
 */
export function alteredFields(decided: V1Pod, admitted: V1Pod | undefined): string[] {
  const metadata = alteredMetadata(decided, admitted);
  const decidedSpec = apiDefaulted(decided.spec);
  const want = comparedFields(decidedSpec);
  if (!isRecord(admitted?.spec)) return [...metadata, ...[...want.keys()].sort().map((k) => `spec.${k}`)];
  const admittedSpec = apiDefaulted(admitted.spec);
  const escalating = decidedContainersOnly(admittedSpec, decidedSpec);
  const got = comparedFields(admittedSpec);
  const names = new Set([...want.keys(), ...got.keys()]);
  const spec = [...names].filter((name) => !sameValue(want.get(name), got.get(name))).map((name) => `spec.${name}`);
  return [...metadata, ...[...new Set([...spec, ...escalating])].sort()];
}
