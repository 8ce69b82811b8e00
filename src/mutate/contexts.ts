import type { V1SecurityContext } from '@kubernetes/client-node';

/**
 * The baseline standard's allowed values for the security-context fields that are not simply
 * forced (https://kubernetes.io/docs/concepts/security/pod-security-standards/): sysctls, SELinux,
 * AppArmor (field and legacy annotation). Used by mutate at pod and container level.
 */

/** Sysctls the baseline standard calls safe. */
export const SAFE_SYSCTLS: ReadonlySet<string> = new Set([
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
/** The AppArmor annotation of one container (deprecated since 1.30, still enforced by PodSecurity). */
export const APPARMOR_ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/';

type SeLinux = NonNullable<V1SecurityContext['seLinuxOptions']>;
type AppArmor = NonNullable<V1SecurityContext['appArmorProfile']>;

/** An SELinux type the baseline standard allows. */
export const safeSeLinuxType = (t: unknown): boolean => typeof t === 'string' && SAFE_SELINUX_TYPES.has(t);

/** SELinux options without user and role, and with a type baseline allows (else container_t). */
export function safeSeLinux(o: SeLinux): SeLinux {
  const { user: _user, role: _role, ...rest } = o;
  return rest.type === undefined || SAFE_SELINUX_TYPES.has(rest.type) ? rest : { ...rest, type: 'container_t' };
}

/** An AppArmor profile baseline allows: RuntimeDefault or Localhost; anything else (Unconfined, unknown) becomes RuntimeDefault. */
export function safeAppArmor(p: AppArmor): AppArmor {
  return p.type === 'RuntimeDefault' || (p.type === 'Localhost' && p.localhostProfile !== undefined)
    ? p
    : { type: 'RuntimeDefault' };
}

/** The legacy AppArmor annotations: a value other than runtime/default or localhost/<profile> becomes runtime/default. */
export function safeAnnotations(annotations: Record<string, string> | undefined): Record<string, string> | undefined {
  if (annotations === undefined) return undefined;
  return Object.fromEntries(
    Object.entries(annotations).map(([k, v]) => [
      k,
      k.startsWith(APPARMOR_ANNOTATION) && v !== 'runtime/default' && !/^localhost\/.+/.test(v) ? 'runtime/default' : v,
    ]),
  );
}
