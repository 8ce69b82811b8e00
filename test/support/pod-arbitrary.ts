import type { V1Container, V1Pod } from '@kubernetes/client-node';
import fc from 'fast-check';

const name = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const caps = fc.array(fc.constantFrom('NET_ADMIN', 'SYS_ADMIN', 'NET_BIND_SERVICE', 'CHOWN', 'ALL'), { maxLength: 3 });

/**
 * SELinux, AppArmor and Windows options, at pod and container level (issue 13 §6: without them the
 * property test could not notice a mutation that skips them). Types baseline allows and types it
 * does not, user and role (never allowed), AppArmor Unconfined/RuntimeDefault/Localhost.
 */
const seLinuxOptions = fc.record(
  {
    type: maybe(
      fc.constantFrom(
        'container_t',
        'container_init_t',
        'container_kvm_t',
        'container_engine_t',
        'spc_t',
        'unconfined_t',
        'kubelet_t',
      ),
    ),
    user: maybe(fc.constantFrom('system_u', 'unconfined_u')),
    role: maybe(fc.constantFrom('system_r', 'unconfined_r')),
    level: maybe(fc.constantFrom('s0', 's0:c123,c456')),
  },
  { requiredKeys: [] },
);
const appArmorProfile = fc.oneof(
  fc.constant({ type: 'Unconfined' }),
  fc.constant({ type: 'RuntimeDefault' }),
  fc.constant({ type: 'Localhost', localhostProfile: 'k8s-apparmor-example-deny-write' }),
);
const windowsOptions = fc.record({ hostProcess: maybe(fc.boolean()) }, { requiredKeys: [] });

const securityContext = fc.record(
  {
    privileged: maybe(fc.boolean()),
    allowPrivilegeEscalation: maybe(fc.boolean()),
    runAsNonRoot: maybe(fc.boolean()),
    runAsUser: maybe(fc.constantFrom(0, 1000, 65532)),
    readOnlyRootFilesystem: maybe(fc.boolean()),
    capabilities: maybe(fc.record({ add: maybe(caps), drop: maybe(caps) }, { requiredKeys: [] })),
    seccompProfile: maybe(fc.constantFrom({ type: 'Unconfined' }, { type: 'RuntimeDefault' })),
    procMount: maybe(fc.constantFrom('Default', 'Unmasked')),
    seLinuxOptions: maybe(seLinuxOptions),
    appArmorProfile: maybe(appArmorProfile),
    windowsOptions: maybe(windowsOptions),
  },
  { requiredKeys: [] },
);

const container = (cname: fc.Arbitrary<string>): fc.Arbitrary<V1Container> =>
  fc.record(
    {
      name: cname,
      image: fc.constantFrom('python:3.11', 'ghcr.io/a/b:1', 'postgres:15'),
      command: maybe(fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 })),
      env: maybe(
        fc.array(fc.record({ name: fc.stringMatching(/^[A-Z][A-Z0-9_]{0,6}$/), value: fc.string({ maxLength: 8 }) }), {
          maxLength: 3,
        }),
      ),
      securityContext: maybe(securityContext),
      ports: maybe(
        fc.array(
          fc.record({
            containerPort: fc.integer({ min: 1, max: 65535 }),
            hostPort: maybe(fc.integer({ min: 1, max: 65535 })),
          }),
          { maxLength: 2 },
        ),
      ),
      volumeMounts: maybe(
        fc.uniqueArray(
          fc.constantFrom('work', 'host', 'data').map((v) => ({ name: v, mountPath: `/${v}` })),
          { maxLength: 2, selector: (m) => m.name },
        ),
      ),
    },
    { requiredKeys: ['name', 'image'] },
  );

/** Pods with arbitrary (often unsafe) security settings, to feed to mutate. */
export const arbitraryPod: fc.Arbitrary<V1Pod> = fc
  .record({
    podName: name,
    containers: fc.uniqueArray(container(name.map((n) => `c-${n}`)), {
      minLength: 1,
      maxLength: 3,
      selector: (c) => c.name,
    }),
    initContainers: maybe(
      fc.uniqueArray(container(name.map((n) => `i-${n}`)), { maxLength: 2, selector: (c) => c.name }),
    ),
    hostNetwork: maybe(fc.boolean()),
    hostPID: maybe(fc.boolean()),
    hostIPC: maybe(fc.boolean()),
    podSc: maybe(
      fc.record(
        {
          runAsUser: maybe(fc.constantFrom(0, 1000)),
          runAsNonRoot: maybe(fc.boolean()),
          seccompProfile: maybe(fc.constantFrom({ type: 'Unconfined' }, { type: 'RuntimeDefault' })),
          sysctls: maybe(
            fc.uniqueArray(
              fc.record({
                name: fc.constantFrom('kernel.shm_rmid_forced', 'kernel.msgmax', 'net.core.somaxconn'),
                value: fc.constant('1'),
              }),
              { maxLength: 2, selector: (x) => x.name },
            ),
          ),
          seLinuxOptions: maybe(seLinuxOptions),
          appArmorProfile: maybe(appArmorProfile),
          windowsOptions: maybe(windowsOptions),
        },
        { requiredKeys: [] },
      ),
    ),
    // `kubectl debug` containers: never in a step, refused by the API server on create; mutate must not let one through unhardened.
    ephemeralContainers: maybe(
      fc.uniqueArray(
        container(name.map((n) => `e-${n}`)).map((c) => ({ ...c, targetContainerName: undefined })),
        { minLength: 1, maxLength: 2, selector: (c) => c.name },
      ),
    ),
    // The legacy AppArmor annotation per container (still enforced by PodSecurity): used instead of the
    // fields, since the API server refuses a pod whose annotation and field disagree.
    appArmorAnnotations: maybe(
      fc.constantFrom('unconfined', 'runtime/default', 'localhost/k8s-apparmor-example-deny-write'),
    ),
    // every mount's volume exists, so the unmutated pods are valid pods (refused only for security)
    volumes: fc.constant([
      { name: 'work', emptyDir: {} },
      { name: 'host', hostPath: { path: '/' } },
      { name: 'data', persistentVolumeClaim: { claimName: 'd' } },
    ]),
  })
  .map((p) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.podName,
      labels: { app: 'x' },
      ...(p.appArmorAnnotations !== undefined
        ? {
            annotations: Object.fromEntries(
              [...p.containers, ...(p.initContainers ?? [])].map((c) => [
                `container.apparmor.security.beta.kubernetes.io/${c.name}`,
                p.appArmorAnnotations,
              ]),
            ),
          }
        : {}),
    },
    spec: {
      containers: p.containers,
      ...(p.ephemeralContainers !== undefined ? { ephemeralContainers: p.ephemeralContainers } : {}),
      ...(p.initContainers !== undefined && p.initContainers.length > 0 ? { initContainers: p.initContainers } : {}),
      ...(p.hostNetwork !== undefined ? { hostNetwork: p.hostNetwork } : {}),
      ...(p.hostPID !== undefined ? { hostPID: p.hostPID } : {}),
      ...(p.hostIPC !== undefined ? { hostIPC: p.hostIPC } : {}),
      ...(p.podSc !== undefined ? { securityContext: p.podSc } : {}),
      volumes: p.volumes,
      restartPolicy: 'Never',
    },
  }))
  // Pods arrive as JSON: plain objects, no undefined-valued keys.
  .map((pod) => JSON.parse(JSON.stringify(pod)) as V1Pod)
  .map(withoutAppArmorFieldsWhenAnnotated);

/** With the legacy annotations present, the AppArmor fields go (the API server wants the two to agree). */
function withoutAppArmorFieldsWhenAnnotated(pod: V1Pod): V1Pod {
  if (pod.metadata?.annotations === undefined || pod.spec === undefined) return pod;
  const strip = <T extends { securityContext?: { appArmorProfile?: unknown } }>(c: T): T => {
    if (c.securityContext?.appArmorProfile === undefined) return c;
    const { appArmorProfile: _a, ...sc } = c.securityContext;
    return { ...c, securityContext: sc };
  };
  const spec = pod.spec;
  return {
    ...pod,
    spec: {
      ...spec,
      containers: spec.containers.map(strip),
      ...(spec.initContainers !== undefined ? { initContainers: spec.initContainers.map(strip) } : {}),
      ...(spec.ephemeralContainers !== undefined ? { ephemeralContainers: spec.ephemeralContainers.map(strip) } : {}),
      ...(spec.securityContext !== undefined
        ? { securityContext: strip({ securityContext: spec.securityContext }).securityContext }
        : {}),
    },
  };
}
