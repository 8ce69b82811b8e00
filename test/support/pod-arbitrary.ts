import type { V1Container, V1Pod } from '@kubernetes/client-node';
import fc from 'fast-check';

const name = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const caps = fc.array(fc.constantFrom('NET_ADMIN', 'SYS_ADMIN', 'NET_BIND_SERVICE', 'CHOWN', 'ALL'), { maxLength: 3 });

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
  },
  { requiredKeys: [] },
);

const container = (cname: fc.Arbitrary<string>): fc.Arbitrary<V1Container> =>
  fc.record(
    {
      name: cname,
      image: fc.constantFrom('python:3.11', 'ghcr.io/a/b:1', 'postgres:15'),
      command: maybe(fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 })),
      env: maybe(fc.array(fc.record({ name: fc.stringMatching(/^[A-Z][A-Z0-9_]{0,6}$/), value: fc.string({ maxLength: 8 }) }), { maxLength: 3 })),
      securityContext: maybe(securityContext),
      ports: maybe(fc.array(fc.record({ containerPort: fc.integer({ min: 1, max: 65535 }), hostPort: maybe(fc.integer({ min: 1, max: 65535 })) }), { maxLength: 2 })),
      volumeMounts: maybe(fc.uniqueArray(fc.constantFrom('work', 'host', 'data').map((v) => ({ name: v, mountPath: `/${v}` })), { maxLength: 2, selector: (m) => m.name })),
    },
    { requiredKeys: ['name', 'image'] },
  );

/** Pods with arbitrary (often unsafe) security settings, to feed to mutate. */
export const arbitraryPod: fc.Arbitrary<V1Pod> = fc
  .record({
    podName: name,
    containers: fc.uniqueArray(container(name.map((n) => `c-${n}`)), { minLength: 1, maxLength: 3, selector: (c) => c.name }),
    initContainers: maybe(fc.uniqueArray(container(name.map((n) => `i-${n}`)), { maxLength: 2, selector: (c) => c.name })),
    hostNetwork: maybe(fc.boolean()),
    hostPID: maybe(fc.boolean()),
    hostIPC: maybe(fc.boolean()),
    podSc: maybe(fc.record({ runAsUser: maybe(fc.constantFrom(0, 1000)), runAsNonRoot: maybe(fc.boolean()), seccompProfile: maybe(fc.constantFrom({ type: 'Unconfined' }, { type: 'RuntimeDefault' })), sysctls: maybe(fc.uniqueArray(fc.record({ name: fc.constantFrom('kernel.shm_rmid_forced', 'kernel.msgmax', 'net.core.somaxconn'), value: fc.constant('1') }), { maxLength: 2, selector: (x) => x.name })) }, { requiredKeys: [] })),
    // every mount's volume exists, so the unmutated pods are valid pods (refused only for security)
    volumes: fc.constant([{ name: 'work', emptyDir: {} }, { name: 'host', hostPath: { path: '/' } }, { name: 'data', persistentVolumeClaim: { claimName: 'd' } }]),
  })
  .map((p) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.podName, labels: { app: 'x' } },
    spec: {
      containers: p.containers,
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
  .map((pod) => JSON.parse(JSON.stringify(pod)) as V1Pod);
