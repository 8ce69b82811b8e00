import type { V1Container, V1Pod, V1SecurityContext } from '@kubernetes/client-node';

/** Baseline: SELinux type unset or one of these; user and role unset. */
const SELINUX_TYPES = ['container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'];
const APPARMOR_ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/';

/** The baseline rules shared by the pod's and each container's security context. */
function contextViolations(
  where: string,
  sc: Pick<V1SecurityContext, 'seLinuxOptions' | 'appArmorProfile' | 'windowsOptions'>,
): string[] {
  const out: string[] = [];
  const se = sc.seLinuxOptions;
  if (se?.type !== undefined && se.type !== '' && !SELINUX_TYPES.includes(se.type))
    out.push(`${where}: seLinux type ${se.type}`);
  if (se?.user !== undefined && se.user !== '') out.push(`${where}: seLinux user`);
  if (se?.role !== undefined && se.role !== '') out.push(`${where}: seLinux role`);
  const aa = sc.appArmorProfile?.type;
  if (aa !== undefined && aa !== 'RuntimeDefault' && aa !== 'Localhost') out.push(`${where}: appArmor ${aa}`);
  if (sc.windowsOptions?.hostProcess === true) out.push(`${where}: hostProcess`);
  return out;
}

/**
 * An independent reading of the restricted Pod Security Standard (baseline + restricted), written
 * from the published standard rather than from src/mutate, so the property tests check mutate
 * against the standard and not against itself. Returns the list of broken rules.
 */
export function restrictedViolations(pod: V1Pod): string[] {
  const out: string[] = [];
  const spec = pod.spec;
  if (spec === undefined) return ['no spec'];
  const all: V1Container[] = [
    ...(spec.initContainers ?? []),
    ...spec.containers,
    ...((spec.ephemeralContainers ?? []) as V1Container[]),
  ];
  const psc = spec.securityContext ?? {};
  if (spec.hostNetwork === true || spec.hostPID === true || spec.hostIPC === true) out.push('host namespaces');
  for (const v of spec.volumes ?? []) {
    const kinds = Object.keys(v).filter(
      (k) => k !== 'name' && (v as unknown as Record<string, unknown>)[k] !== undefined,
    );
    for (const k of kinds)
      if (
        ![
          'configMap',
          'csi',
          'downwardAPI',
          'emptyDir',
          'ephemeral',
          'persistentVolumeClaim',
          'projected',
          'secret',
        ].includes(k)
      )
        out.push(`volume type ${k}`);
  }
  const podNonRoot = psc.runAsNonRoot === true;
  const podSeccomp = psc.seccompProfile?.type === 'RuntimeDefault' || psc.seccompProfile?.type === 'Localhost';
  if (psc.runAsUser === 0) out.push('pod runAsUser 0');
  out.push(...contextViolations('pod', psc));
  for (const [k, v] of Object.entries(pod.metadata?.annotations ?? {})) {
    if (k.startsWith(APPARMOR_ANNOTATION) && v !== 'runtime/default' && !v.startsWith('localhost/'))
      out.push(`annotation ${k}: ${v}`);
  }
  if (psc.seccompProfile !== undefined && !podSeccomp) out.push('pod seccomp');
  for (const s of psc.sysctls ?? []) {
    if (
      ![
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
      ].includes(s.name)
    )
      out.push(`sysctl ${s.name}`);
  }
  for (const c of all) {
    const sc = c.securityContext ?? {};
    if (sc.privileged === true) out.push(`${c.name}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${c.name}: allowPrivilegeEscalation`);
    if (!(sc.runAsNonRoot === true || (podNonRoot && sc.runAsNonRoot !== false))) out.push(`${c.name}: runAsNonRoot`);
    if (sc.runAsUser === 0) out.push(`${c.name}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type;
    if (!(seccomp === 'RuntimeDefault' || seccomp === 'Localhost' || (seccomp === undefined && podSeccomp)))
      out.push(`${c.name}: seccomp`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${c.name}: drop ALL`);
    for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') out.push(`${c.name}: add ${cap}`);
    for (const p of c.ports ?? []) if (p.hostPort !== undefined && p.hostPort !== 0) out.push(`${c.name}: hostPort`);
    if (sc.procMount !== undefined && sc.procMount !== 'Default') out.push(`${c.name}: procMount`);
    out.push(...contextViolations(c.name, sc));
  }
  return out;
}
