import type { V1Container, V1Probe, V1SecurityContext } from '@kubernetes/client-node';
import { safeAppArmor, safeSeLinux } from './contexts.ts';

/** What container hardening reads of the restricted profile (RestrictedProfile in restricted.ts). */
export interface ContainerProfile {
  readonly runAsUser: number;
  readonly allowNetBindService: boolean;
  readonly readOnlyRootFilesystem: boolean;
}

/** The writable emptyDir mounted at /tmp under a read-only root filesystem. */
export const TMP_VOLUME = 'kubiya-tmp';

/** A container's security context as restricted requires it (only NET_BIND_SERVICE may be added, and only when allowed). */
function hardenContext(c: V1Container, profile: ContainerProfile): V1SecurityContext {
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
  return sc;
}

/**
 * A probe without a `host`: the kubelet dials a probe's host from the node, so a host would reach
 * what the step's NetworkPolicy forbids (the baseline standard refuses it since Kubernetes 1.34,
 * "Host Probes / Lifecycle Hooks"). The pod builder never sets one; this is the last line.
 */
function hostless(p: V1Probe | undefined): V1Probe | undefined {
  if (p === undefined) return undefined;
  const out: V1Probe = { ...p };
  if (p.tcpSocket !== undefined) {
    const { host: _host, ...tcp } = p.tcpSocket;
    out.tcpSocket = tcp;
  }
  if (p.httpGet !== undefined) {
    const { host: _host, ...http } = p.httpGet;
    out.httpGet = http;
  }
  return out;
}

/** One container of any kind, hardened: security context, no host ports, no probe hosts, only allowed mounts (plus /tmp). */
export function hardenContainer(
  c: V1Container,
  profile: ContainerProfile,
  allowedVolumes: ReadonlySet<string>,
): V1Container {
  const out: V1Container = { ...c, securityContext: hardenContext(c, profile) };
  if (c.ports !== undefined) out.ports = c.ports.map(({ hostPort: _hostPort, hostIP: _hostIP, ...p }) => p);
  for (const kind of ['readinessProbe', 'startupProbe', 'livenessProbe'] as const)
    if (c[kind] !== undefined) out[kind] = hostless(c[kind]);
  const mounts = (c.volumeMounts ?? []).filter((m) => allowedVolumes.has(m.name));
  if (profile.readOnlyRootFilesystem && !mounts.some((m) => m.mountPath === '/tmp'))
    mounts.push({ name: TMP_VOLUME, mountPath: '/tmp' });
  if (mounts.length > 0 || c.volumeMounts !== undefined) out.volumeMounts = mounts;
  return out;
}
