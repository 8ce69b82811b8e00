import type { V1Container, V1Pod, V1SecurityContext, V1Volume } from '@kubernetes/client-node';
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';

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
/** Sysctls the baseline standard calls safe. */
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
/** SELinux types the baseline standard allows (user and role must be unset). */
const SAFE_SELINUX_TYPES = new Set(['container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const TMP_VOLUME = 'kubiya-tmp';
/** The AppArmor annotation of one container (deprecated since 1.30, still enforced by PodSecurity). */
const APPARMOR_ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/';

type SeLinux = NonNullable<V1SecurityContext['seLinuxOptions']>;
type AppArmor = NonNullable<V1SecurityContext['appArmorProfile']>;

/** SELinux options without user and role, and with a type baseline allows (else container_t). */
function safeSeLinux(o: SeLinux): SeLinux {
  const { user: _user, role: _role, ...rest } = o;
  return rest.type === undefined || SAFE_SELINUX_TYPES.has(rest.type) ? rest : { ...rest, type: 'container_t' };
}

/** An AppArmor profile baseline allows: RuntimeDefault or Localhost; anything else (Unconfined, unknown) becomes RuntimeDefault. */
function safeAppArmor(p: AppArmor): AppArmor {
  return p.type === 'RuntimeDefault' || (p.type === 'Localhost' && p.localhostProfile !== undefined)
    ? p
    : { type: 'RuntimeDefault' };
}

/** The legacy AppArmor annotations: a value other than runtime/default or localhost/<profile> becomes runtime/default. */
function safeAnnotations(annotations: Record<string, string> | undefined): Record<string, string> | undefined {
  if (annotations === undefined) return undefined;
  return Object.fromEntries(
    Object.entries(annotations).map(([k, v]) => [
      k,
      k.startsWith(APPARMOR_ANNOTATION) && v !== 'runtime/default' && !/^localhost\/.+/.test(v) ? 'runtime/default' : v,
    ]),
  );
}

function isAllowedVolume(v: V1Volume): boolean {
  return Object.entries(v).every(
    ([key, value]) => key === 'name' || value === undefined || ALLOWED_VOLUME_KEYS.has(key),
  );
}

function hardenContainer(c: V1Container, profile: RestrictedProfile, allowedVolumes: ReadonlySet<string>): V1Container {
  const sc: V1SecurityContext = { ...c.securityContext };
  sc.allowPrivilegeEscalation = false;
  sc.privileged = false;
  const add = profile.allowNetBindService
    ? (sc.capabilities?.add ?? []).filter((cap) => cap === 'NET_BIND_SERVICE')
    : [];
  sc.capabilities = add.length > 0 ? { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } : { drop: ['ALL'] };
  sc.runAsNonRoot = true;
  if (sc.runAsUser === 0) sc.runAsUser = profile.runAsUser;
  if (sc.seccompProfile?.type !== 'Localhost') sc.seccompProfile = { type: 'RuntimeDefault' };
  if (sc.procMount !== undefined) sc.procMount = 'Default';
  if (sc.appArmorProfile !== undefined) sc.appArmorProfile = safeAppArmor(sc.appArmorProfile);
  if (sc.seLinuxOptions !== undefined) sc.seLinuxOptions = safeSeLinux(sc.seLinuxOptions);
  if (sc.windowsOptions?.hostProcess === true) sc.windowsOptions = { ...sc.windowsOptions, hostProcess: false };
  if (profile.readOnlyRootFilesystem) sc.readOnlyRootFilesystem = true;

  const out: V1Container = { ...c, securityContext: sc };
  if (c.ports !== undefined) out.ports = c.ports.map(({ hostPort: _hostPort, hostIP: _hostIP, ...p }) => p);
  const mounts = (c.volumeMounts ?? []).filter((m) => allowedVolumes.has(m.name));
  if (profile.readOnlyRootFilesystem && !mounts.some((m) => m.mountPath === '/tmp'))
    mounts.push({ name: TMP_VOLUME, mountPath: '/tmp' });
  if (mounts.length > 0 || c.volumeMounts !== undefined) out.volumeMounts = mounts;
  return out;
}

/**
 * mutate: any pod → a pod that satisfies the restricted Pod Security Standard, plus the JSON Patch
 * that was applied. Pure and idempotent: mutate(mutate(p).pod).patch is empty.
 * Volumes of types restricted forbids (hostPath, ...) are removed along with their mounts; policy
 * should have denied them before, this is the last line. Covers every field of the restricted and
 * baseline standards (https://kubernetes.io/docs/concepts/security/pod-security-standards/) at pod
 * and container level: SELinux (allowed types only, no user/role), AppArmor (field and legacy
 * annotation: no Unconfined), windowsOptions.hostProcess, and ephemeral containers (removed).
 */
export function mutate(input: V1Pod, profile: RestrictedProfile): Mutation {
  const pod = structuredClone(input);
  const spec = pod.spec ?? { containers: [] };
  pod.spec = spec;

  const volumes = (spec.volumes ?? []).filter(isAllowedVolume);
  if (profile.readOnlyRootFilesystem && !volumes.some((v) => v.name === TMP_VOLUME))
    volumes.push({ name: TMP_VOLUME, emptyDir: {} });
  if (volumes.length > 0 || spec.volumes !== undefined) spec.volumes = volumes;
  const allowedVolumes = new Set(volumes.map((v) => v.name));

  spec.hostNetwork = false;
  spec.hostPID = false;
  spec.hostIPC = false;
  if (spec.hostUsers !== undefined && spec.hostUsers) delete spec.hostUsers;
  spec.automountServiceAccountToken = false;
  spec.enableServiceLinks = false;

  const psc = { ...spec.securityContext };
  psc.runAsNonRoot = true;
  if (psc.runAsUser === undefined || psc.runAsUser === 0) psc.runAsUser = profile.runAsUser;
  if (psc.runAsGroup === undefined || psc.runAsGroup === 0) psc.runAsGroup = profile.runAsGroup;
  if (psc.fsGroup === undefined || psc.fsGroup === 0) psc.fsGroup = profile.fsGroup;
  if (psc.seccompProfile?.type !== 'Localhost') psc.seccompProfile = { type: 'RuntimeDefault' };
  if (psc.sysctls !== undefined) psc.sysctls = psc.sysctls.filter((s) => SAFE_SYSCTLS.has(s.name));
  if (psc.seLinuxOptions !== undefined) psc.seLinuxOptions = safeSeLinux(psc.seLinuxOptions);
  if (psc.appArmorProfile !== undefined) psc.appArmorProfile = safeAppArmor(psc.appArmorProfile);
  if (psc.windowsOptions?.hostProcess === true) psc.windowsOptions = { ...psc.windowsOptions, hostProcess: false };
  spec.securityContext = psc;
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
