import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { mutate, type RestrictedProfile } from '../../src/mutate/restricted.ts';
import { arbitraryPod } from '../support/pod-arbitrary.ts';
import { restrictedViolations } from '../support/restricted-check.ts';

const profile: RestrictedProfile = {
  runAsUser: 65532,
  runAsGroup: 65532,
  fsGroup: 65532,
  allowNetBindService: false,
  readOnlyRootFilesystem: false,
  tmpSize: '1Gi',
};
const profiles = fc.record({
  runAsUser: fc.constantFrom(1000, 65532),
  runAsGroup: fc.constant(1000),
  fsGroup: fc.constant(1000),
  allowNetBindService: fc.boolean(),
  readOnlyRootFilesystem: fc.boolean(),
  tmpSize: fc.constantFrom('1Gi', '64Mi', '500M'),
});

test('mutate: any pod comes out restricted (independent checker)', () => {
  fc.assert(
    fc.property(arbitraryPod, profiles, (pod, p) => {
      assert.deepEqual(restrictedViolations(mutate(pod, p).pod), []);
    }),
    { numRuns: 500 },
  );
});

test('mutate is idempotent: mutating twice equals mutating once, with an empty second patch', () => {
  fc.assert(
    fc.property(arbitraryPod, profiles, (pod, p) => {
      const once = mutate(pod, p);
      const twice = mutate(once.pod, p);
      assert.deepEqual(twice.pod, once.pod);
      assert.deepEqual(twice.patch, []);
    }),
    { numRuns: 500 },
  );
});

test('mutate leaves fields outside security settings untouched and does not modify its input', () => {
  fc.assert(
    fc.property(arbitraryPod, (pod) => {
      const before = structuredClone(pod);
      const out = mutate(pod, profile).pod;
      assert.deepEqual(pod, before, 'input not modified');
      const apparmor = (m: typeof pod.metadata) => ({
        ...m,
        annotations: Object.fromEntries(
          Object.entries(m?.annotations ?? {}).filter(
            ([k]) => !k.startsWith('container.apparmor.security.beta.kubernetes.io/'),
          ),
        ),
      });
      assert.deepEqual(
        apparmor(out.metadata),
        apparmor(pod.metadata),
        'metadata untouched but for the AppArmor annotations',
      );
      assert.equal(out.spec?.restartPolicy, pod.spec?.restartPolicy);
      assert.deepEqual(
        out.spec?.containers.map((c) => [c.name, c.image, c.command, c.env]),
        pod.spec?.containers.map((c) => [c.name, c.image, c.command, c.env]),
      );
    }),
    { numRuns: 300 },
  );
});

test('mutate returns the JSON Patch it applied', () => {
  const pod = {
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'step', image: 'python:3.11', securityContext: { privileged: true } }] },
  };
  const { patch } = mutate(pod, profile);
  assert.ok(patch.some((op) => op.op === 'replace' && op.path === '/spec/containers/0/securityContext/privileged'));
  assert.ok(patch.some((op) => op.path === '/spec/securityContext'));
});

test('NET_BIND_SERVICE survives only when the profile allows it', () => {
  const pod = {
    spec: {
      containers: [
        { name: 'c', image: 'i', securityContext: { capabilities: { add: ['NET_BIND_SERVICE', 'SYS_ADMIN'] } } },
      ],
    },
  };
  assert.deepEqual(mutate(pod, profile).pod.spec?.containers[0]?.securityContext?.capabilities, { drop: ['ALL'] });
  assert.deepEqual(
    mutate(pod, { ...profile, allowNetBindService: true }).pod.spec?.containers[0]?.securityContext?.capabilities,
    { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
  );
});

// Issue 13 §6: the fields the generator and the checker did not know, one class each. The generator
// must produce each violation (so the property above can fail), and mutate must remove each.
const CLASSES: [string, RegExp][] = [
  ['SELinux type outside the allowed set', /seLinux type/],
  ['SELinux user or role', /seLinux (user|role)/],
  ['AppArmor Unconfined (field)', /appArmor Unconfined/],
  ['AppArmor unconfined (legacy annotation)', /^annotation container\.apparmor/],
  ['windowsOptions.hostProcess', /hostProcess/],
  ['ephemeral containers', /^e-/],
];

test('the pod generator produces every class of violation the checker knows, at pod and container level', () => {
  const seen = new Map<string, number>();
  for (const pod of fc.sample(arbitraryPod, { numRuns: 600, seed: 1314 })) {
    for (const v of restrictedViolations(pod))
      for (const [name, re] of CLASSES) if (re.test(v)) seen.set(name, (seen.get(name) ?? 0) + 1);
  }
  for (const [name] of CLASSES)
    assert.ok((seen.get(name) ?? 0) >= 10, `${name}: ${seen.get(name) ?? 0} generated pods break it`);
  const podLevel = fc
    .sample(arbitraryPod, { numRuns: 600, seed: 1315 })
    .flatMap(restrictedViolations)
    .filter((v) => v.startsWith('pod: '));
  for (const re of [/seLinux type/, /appArmor Unconfined/, /hostProcess/])
    assert.ok(
      podLevel.some((v) => re.test(v)),
      `pod-level ${String(re)}`,
    );
});

const hostile = {
  metadata: {
    name: 'p',
    annotations: {
      'container.apparmor.security.beta.kubernetes.io/c': 'unconfined',
      'container.apparmor.security.beta.kubernetes.io/i': 'localhost/prof',
      other: 'unconfined',
    },
  },
  spec: {
    securityContext: {
      seLinuxOptions: { type: 'spc_t', user: 'system_u', role: 'system_r', level: 's0' },
      appArmorProfile: { type: 'Unconfined' },
      windowsOptions: { hostProcess: true },
    },
    containers: [
      {
        name: 'c',
        image: 'i',
        securityContext: {
          seLinuxOptions: { type: 'unconfined_t' },
          appArmorProfile: { type: 'Unconfined' },
          windowsOptions: { hostProcess: true, runAsUserName: 'x' },
        },
      },
    ],
    initContainers: [
      {
        name: 'i',
        image: 'i',
        securityContext: {
          seLinuxOptions: { type: 'container_init_t' },
          appArmorProfile: { type: 'Localhost', localhostProfile: 'prof' },
        },
      },
    ],
    ephemeralContainers: [{ name: 'debug', image: 'busybox', securityContext: { privileged: true } }],
  },
};

test('mutate: SELinux, AppArmor (field and annotation), hostProcess and ephemeral containers, at pod and container level', () => {
  assert.ok(restrictedViolations(hostile).length >= 8, 'the checker sees the hostile pod');
  const { pod } = mutate(hostile, profile);
  assert.deepEqual(restrictedViolations(pod), []);
  assert.deepEqual(pod.spec?.securityContext?.seLinuxOptions, { type: 'container_t', level: 's0' });
  assert.deepEqual(pod.spec?.securityContext?.appArmorProfile, { type: 'RuntimeDefault' });
  assert.equal(pod.spec?.securityContext?.windowsOptions?.hostProcess, false);
  assert.deepEqual(pod.spec?.containers[0]?.securityContext?.seLinuxOptions, { type: 'container_t' });
  assert.deepEqual(pod.spec?.containers[0]?.securityContext?.windowsOptions, {
    hostProcess: false,
    runAsUserName: 'x',
  });
  assert.deepEqual(
    pod.spec?.initContainers?.[0]?.securityContext?.seLinuxOptions,
    { type: 'container_init_t' },
    'an allowed type is kept',
  );
  assert.deepEqual(
    pod.spec?.initContainers?.[0]?.securityContext?.appArmorProfile,
    { type: 'Localhost', localhostProfile: 'prof' },
    'Localhost is kept',
  );
  assert.deepEqual(pod.metadata?.annotations, {
    'container.apparmor.security.beta.kubernetes.io/c': 'runtime/default',
    'container.apparmor.security.beta.kubernetes.io/i': 'localhost/prof',
    other: 'unconfined',
  });
  assert.equal(
    pod.spec?.ephemeralContainers,
    undefined,
    'ephemeral containers are removed (the API server refuses them on create)',
  );
});
