import type { V1Pod, V1PodSecurityContext, V1Volume } from '@kubernetes/client-node';
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { hardenContainer, TMP_VOLUME } from './container.ts';
import { SAFE_SYSCTLS, safeAnnotations, safeAppArmor, safeSeLinux } from './contexts.ts';
import { safeTokenVolume } from './identity.ts';
import { plainCopy } from '../validate/plain-copy.ts';
import { quantityValue } from '../units/units.ts';

/** Settings of the restricted hardening, from config (`security.*`) and policy. */
export interface RestrictedProfile {
  /** UID used when a pod does not set a non-root one. */
  readonly runAsUser: number;
  readonly runAsGroup: number;
  readonly fsGroup: number;
  /** Only NET_BIND_SERVICE may ever be added back, and only when this is true. */
  readonly allowNetBindService: boolean;
  /** Make root filesystems read-only and mount a writable emptyDir at /tmp. */
  readonly readOnlyRootFilesystem: boolean;
  /**
   * The `sizeLimit` of the /tmp emptyDir (a Kubernetes quantity, not zero: runner.storage.tmpSize),
   * and of any other emptyDir of the pod that comes without a positive one (see boundedVolume).
   */
  readonly tmpSize: string;
}

export interface Mutation {
  readonly pod: V1Pod;
  /** RFC 6902 patch from the input to the output, for the audit record. */
  readonly patch: Operation[];
}

/** Volume types the restricted Pod Security Standard allows. */
const ALLOWED_VOLUME_KEYS = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);
function isAllowedVolume(v: V1Volume): boolean {
  return Object.entries(v).every(
    ([key, value]) => key === 'name' || value === undefined || ALLOWED_VOLUME_KEYS.has(key),
  );
}

/** The volume sources a V1Volume may name (every key but `name`). */
const hasSource = (v: V1Volume): boolean =>
  Object.entries(v).some(([key, value]) => key !== 'name' && value !== undefined);

/**
 * A volume the kubelet bounds (red team 18, finding 7): an emptyDir whose `sizeLimit` is absent,
 * zero or negative — the kubelet puts no limit on it (zero means none) and it fills the node's
 * disk — gets `size`; so does a volume with no source at all, which the API server makes an
 * `emptyDir: {}` (SetDefaults_Volume). Fail closed: a limit this runner cannot read (units.ts reads
 * a subset of the Kubernetes quantity grammar) gets `size` too — `+0`, `0e3`, `.0` and `0n` are
 * zero to the API server. Every other volume, and an emptyDir with a limit read as positive, is
 * returned as it is.
 */
function boundedVolume(v: V1Volume, size: string): V1Volume {
  if (!hasSource(v)) return { ...v, emptyDir: { sizeLimit: size } };
  if (v.emptyDir === undefined) return v;
  const limit = v.emptyDir.sizeLimit;
  const value = typeof limit === 'string' ? quantityValue(limit) : undefined;
  if (value !== undefined && value > 0) return v;
  return { ...v, emptyDir: { ...v.emptyDir, sizeLimit: size } };
}

/** The pod's security context as restricted requires it. */
function hardenPodContext(input: V1PodSecurityContext | undefined, profile: RestrictedProfile): V1PodSecurityContext {
  const psc = { ...input };
  psc.runAsNonRoot = true;
  if (psc.runAsUser === undefined || psc.runAsUser === 0) psc.runAsUser = profile.runAsUser;
  if (psc.runAsGroup === undefined || psc.runAsGroup === 0) psc.runAsGroup = profile.runAsGroup;
  if (psc.fsGroup === undefined || psc.fsGroup === 0) psc.fsGroup = profile.fsGroup;
  if (psc.seccompProfile?.type !== 'Localhost') psc.seccompProfile = { type: 'RuntimeDefault' };
  if (psc.sysctls !== undefined) psc.sysctls = psc.sysctls.filter((s) => SAFE_SYSCTLS.has(s.name));
  if (psc.seLinuxOptions !== undefined) psc.seLinuxOptions = safeSeLinux(psc.seLinuxOptions);
  if (psc.appArmorProfile !== undefined) psc.appArmorProfile = safeAppArmor(psc.appArmorProfile);
  if (psc.windowsOptions?.hostProcess === true) psc.windowsOptions = { ...psc.windowsOptions, hostProcess: false };
  return psc;
}

/**
 * mutate: any pod → a pod that satisfies the restricted Pod Security Standard, plus the JSON Patch
 * that was applied. Pure and idempotent: mutate(mutate(p).pod).patch is empty.
 * Volumes of types restricted forbids (hostPath, ...) are removed along with their mounts; policy
 * should have denied them before, this is the last line. Covers every field of the restricted and
 * baseline standards (https://kubernetes.io/docs/concepts/security/pod-security-standards/) at pod
 * and container level: SELinux (allowed types only, no user/role), AppArmor (field and legacy
 * annotation: no Unconfined), windowsOptions.hostProcess, and ephemeral containers (removed).
 * Identity (issue 19): the legacy service account token is never mounted, and a projected token
 * keeps an audience and a bounded lifetime (identity.ts); probes carry no host (container.ts).
 * Storage: every emptyDir of the result has a positive `sizeLimit` (`/tmp` and any unbounded one
 * get `profile.tmpSize`, boundedVolume), so no volume the kubelet leaves unbounded reaches a node.
 */
export function mutate(input: V1Pod, profile: RestrictedProfile): Mutation {
  const pod = plainCopy(input);
  const spec = pod.spec ?? { containers: [] };
  pod.spec = spec;

  const volumes = (spec.volumes ?? [])
    .filter(isAllowedVolume)
    .map(safeTokenVolume)
    .filter((v) => v !== undefined)
    .map((v) => boundedVolume(v, profile.tmpSize));
  if (profile.readOnlyRootFilesystem && !volumes.some((v) => v.name === TMP_VOLUME))
    volumes.push({ name: TMP_VOLUME, emptyDir: { sizeLimit: profile.tmpSize } });
  if (volumes.length > 0 || spec.volumes !== undefined) spec.volumes = volumes;
  const allowedVolumes = new Set(volumes.map((v) => v.name));

  spec.hostNetwork = false;
  spec.hostPID = false;
  spec.hostIPC = false;
  if (spec.hostUsers !== undefined && spec.hostUsers) delete spec.hostUsers;
  spec.automountServiceAccountToken = false;
  spec.enableServiceLinks = false;
  // runner.network.dnsPolicy (ClusterFirst only): the cluster DNS is the one resolver the step's
  // egress policy allows, so the pod says so itself rather than leave it to the API server's
  // default; a dnsConfig (extra nameservers, searches) is never the runner's and is dropped.
  spec.dnsPolicy = 'ClusterFirst';
  delete spec.dnsConfig;

  spec.securityContext = hardenPodContext(spec.securityContext, profile);
  const annotations = safeAnnotations(pod.metadata?.annotations);
  if (annotations !== undefined && pod.metadata !== undefined) pod.metadata.annotations = annotations;

  spec.containers = spec.containers.map((c) => hardenContainer(c, profile, allowedVolumes));
  if (spec.initContainers !== undefined)
    spec.initContainers = spec.initContainers.map((c) => hardenContainer(c, profile, allowedVolumes));
  // Ephemeral containers are never part of a step: the API server refuses them on create (they are
  // added later through their own subresource, e.g. by `kubectl debug`). A spec that carries them
  // is not hardened but stripped of them.
  delete spec.ephemeralContainers;

  return { pod, patch: fastJsonPatch.compare(input, pod) };
}
