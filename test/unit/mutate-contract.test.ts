// What mutate keeps, not only what it removes. mutate.test.ts proves every output is restricted (an
// independent checker over generated pods); a mutate that dropped every volume, every sysctl or the
// user's own UID would pass it too, and the step would run without its data or as the wrong user.
// These tables pin the other half of the contract (src/mutate/restricted.ts docstring, the Pod
// Security Standards page): each allowed value is kept, each unsafe one replaced, and a field the
// pod does not set is not invented (the audit record's patch lists only real changes). Each row names
// its class; removing an entry of an allow-list in the source makes that entry's row fail.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Container, V1Pod, V1PodSecurityContext, V1SecurityContext, V1Volume } from '@kubernetes/client-node';
import { mutate, type RestrictedProfile } from '../../src/mutate/restricted.ts';
import { restrictedViolations } from '../support/restricted-check.ts';

const profile: RestrictedProfile = {
  runAsUser: 65532,
  runAsGroup: 65533,
  fsGroup: 65534,
  allowNetBindService: false,
  readOnlyRootFilesystem: false,
  tmpSize: '1Gi',
};
const readOnly: RestrictedProfile = { ...profile, readOnlyRootFilesystem: true };

const podWith = (spec: Partial<NonNullable<V1Pod['spec']>>, container: Partial<V1Container> = {}): V1Pod => ({
  metadata: { name: 'p' },
  spec: { containers: [{ name: 'step', image: 'python:3.11', ...container }], ...spec },
});
const podContext = (psc: V1PodSecurityContext, p = profile): V1PodSecurityContext =>
  mutate(podWith({ securityContext: psc }), p).pod.spec?.securityContext ?? {};
const containerContext = (sc: V1SecurityContext, p = profile): V1SecurityContext =>
  mutate(podWith({}, { securityContext: sc }), p).pod.spec?.containers[0]?.securityContext ?? {};

/**
 * Class: the volume allow-list of the restricted standard. Each allowed type is kept with the
 * container's mount of it; each other type is removed with its mount. One row per allowed type
 * (the list in src/mutate/restricted.ts), and the forbidden types the standard names.
 */
const ALLOWED_VOLUMES: [string, V1Volume][] = [
  ['configMap', { name: 'v', configMap: { name: 'cm' } }],
  ['csi', { name: 'v', csi: { driver: 'secrets-store.csi.k8s.io' } }],
  ['downwardAPI', { name: 'v', downwardAPI: { items: [] } }],
  ['emptyDir', { name: 'v', emptyDir: { sizeLimit: '2Gi' } }],
  ['emptyDir in memory', { name: 'v', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } }],
  ['ephemeral', { name: 'v', ephemeral: { volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'] } } } }],
  ['persistentVolumeClaim', { name: 'v', persistentVolumeClaim: { claimName: 'data' } }],
  ['projected', { name: 'v', projected: { sources: [] } }],
  ['secret', { name: 'v', secret: { secretName: 's' } }],
];
const FORBIDDEN_VOLUMES: [string, Record<string, unknown>][] = [
  ['hostPath', { hostPath: { path: '/' } }],
  ['nfs', { nfs: { server: 'n', path: '/' } }],
  ['iscsi', { iscsi: { targetPortal: 't', iqn: 'i', lun: 0 } }],
  ['gitRepo', { gitRepo: { repository: 'https://example.org/r.git' } }],
  ['rbd', { rbd: { monitors: ['m'], image: 'i' } }],
  ['flexVolume', { flexVolume: { driver: 'd' } }],
  ['an allowed type beside a forbidden one', { emptyDir: {}, hostPath: { path: '/' } }],
];
const mount = { name: 'v', mountPath: '/data' };

for (const [type, volume] of ALLOWED_VOLUMES) {
  test(`volume type ${type} is allowed: the volume and its mount are kept unchanged`, () => {
    const { pod } = mutate(podWith({ volumes: [volume] }, { volumeMounts: [mount] }), profile);
    assert.deepEqual(pod.spec?.volumes, [volume]);
    assert.deepEqual(pod.spec?.containers[0]?.volumeMounts, [mount]);
  });
}
for (const [type, fields] of FORBIDDEN_VOLUMES) {
  test(`volume type ${type} is forbidden: the volume and every mount of it are removed, other volumes stay`, () => {
    const keep: V1Volume = { name: 'keep', emptyDir: { sizeLimit: '2Gi' } };
    const input = podWith(
      { volumes: [{ name: 'v', ...fields }, keep], initContainers: [{ name: 'i', image: 'i', volumeMounts: [mount] }] },
      { volumeMounts: [mount, { name: 'keep', mountPath: '/keep' }] },
    );
    const { pod } = mutate(input, profile);
    assert.deepEqual(pod.spec?.volumes, [keep]);
    assert.deepEqual(pod.spec?.containers[0]?.volumeMounts, [{ name: 'keep', mountPath: '/keep' }]);
    assert.deepEqual(pod.spec?.initContainers?.[0]?.volumeMounts, [], 'its only mount was of the removed volume');
    assert.deepEqual(restrictedViolations(pod), []);
  });
}

test('a pod whose only volume is forbidden ends with no volume and no mount of it (not with the original list)', () => {
  const { pod } = mutate(
    podWith({ volumes: [{ name: 'v', hostPath: { path: '/' } }] }, { volumeMounts: [mount] }),
    profile,
  );
  assert.deepEqual(pod.spec?.volumes, []);
  assert.deepEqual(pod.spec?.containers[0]?.volumeMounts, []);
  assert.deepEqual(restrictedViolations(pod), []);
});

test('a volume key present with the value undefined is no volume type (client objects carry such keys)', () => {
  const volume = { name: 'v', emptyDir: { sizeLimit: '2Gi' }, hostPath: undefined } as V1Volume;
  const { pod } = mutate(podWith({ volumes: [volume] }, { volumeMounts: [mount] }), profile);
  assert.equal(pod.spec?.volumes?.length, 1);
  assert.deepEqual(pod.spec?.containers[0]?.volumeMounts, [mount]);
});

/** Class: the sysctls the baseline standard calls safe are kept (in order); every other is removed. */
const SAFE_SYSCTLS = [
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
];
for (const name of SAFE_SYSCTLS) {
  test(`sysctl ${name} is safe: kept, while an unsafe one beside it is removed`, () => {
    const sysctls = [
      { name: 'kernel.core_pattern', value: '|/tmp/x' },
      { name, value: '1' },
      { name: 'net.ipv4.ip_forward', value: '1' },
    ];
    assert.deepEqual(podContext({ sysctls }).sysctls, [{ name, value: '1' }]);
  });
}

/** Class: SELinux. Each allowed type is kept; another type becomes container_t; user and role go; a level alone stays alone. */
for (const type of ['container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']) {
  test(`SELinux type ${type} is allowed: kept at pod and container level`, () => {
    assert.deepEqual(podContext({ seLinuxOptions: { type, level: 's0' } }).seLinuxOptions, { type, level: 's0' });
    assert.deepEqual(containerContext({ seLinuxOptions: { type } }).seLinuxOptions, { type });
  });
}
test('SELinux options without a type keep no type (mutate does not invent one), user and role removed', () => {
  assert.deepEqual(podContext({ seLinuxOptions: { level: 's0', user: 'system_u' } }).seLinuxOptions, { level: 's0' });
  assert.deepEqual(containerContext({ seLinuxOptions: { level: 's0', role: 'r' } }).seLinuxOptions, { level: 's0' });
});

/** Class: AppArmor (field). RuntimeDefault and Localhost-with-a-profile stay; everything else is RuntimeDefault. */
const APPARMOR: [string, V1SecurityContext['appArmorProfile'], V1SecurityContext['appArmorProfile']][] = [
  ['RuntimeDefault stays', { type: 'RuntimeDefault' }, { type: 'RuntimeDefault' }],
  [
    'Localhost with a profile stays',
    { type: 'Localhost', localhostProfile: 'p' },
    { type: 'Localhost', localhostProfile: 'p' },
  ],
  ['Localhost without a profile is RuntimeDefault', { type: 'Localhost' }, { type: 'RuntimeDefault' }],
  ['Unconfined is RuntimeDefault', { type: 'Unconfined' }, { type: 'RuntimeDefault' }],
  [
    'Unconfined carrying a localhostProfile is still RuntimeDefault',
    { type: 'Unconfined', localhostProfile: 'p' },
    { type: 'RuntimeDefault' },
  ],
];
for (const [name, given, expected] of APPARMOR) {
  test(`AppArmor profile: ${name} (pod and container level)`, () => {
    assert.deepEqual(podContext({ appArmorProfile: given }).appArmorProfile, expected);
    assert.deepEqual(containerContext({ appArmorProfile: given }).appArmorProfile, expected);
  });
}

/** Class: AppArmor (legacy annotation): the value must be runtime/default or start with localhost/<name>. */
const ANNOTATIONS: [string, string][] = [
  ['runtime/default', 'runtime/default'],
  ['localhost/prof', 'localhost/prof'],
  ['unconfined', 'runtime/default'],
  ['localhost/', 'runtime/default'],
  ['x-localhost/prof (the prefix must be at the start)', 'runtime/default'],
];
for (const [value, expected] of ANNOTATIONS) {
  test(`AppArmor annotation ${value} → ${expected}`, () => {
    const key = 'container.apparmor.security.beta.kubernetes.io/step';
    const given = value.split(' ')[0] ?? value;
    const pod: V1Pod = { ...podWith({}), metadata: { name: 'p', annotations: { [key]: given, other: given } } };
    const out = mutate(pod, profile).pod;
    assert.deepEqual(out.metadata?.annotations, { [key]: expected, other: given });
    assert.deepEqual(restrictedViolations(out), []);
  });
}

/**
 * Class: identity. A non-root UID, GID or fsGroup the pod sets is kept; 0 or unset at pod level
 * becomes the profile's; a container's 0 becomes the profile's UID and its unset UID stays unset
 * (it inherits the pod's). runAsNonRoot is true at both levels, whatever the pod said.
 */
test('pod identity: a non-root UID/GID/fsGroup is kept, 0 and unset become the profile', () => {
  const own = { runAsUser: 1234, runAsGroup: 2345, fsGroup: 3456 };
  const psc = podContext({ ...own, runAsNonRoot: false });
  assert.deepEqual([psc.runAsUser, psc.runAsGroup, psc.fsGroup, psc.runAsNonRoot], [1234, 2345, 3456, true]);
  const expected = [profile.runAsUser, profile.runAsGroup, profile.fsGroup, true];
  const zero = podContext({ runAsUser: 0, runAsGroup: 0, fsGroup: 0 });
  assert.deepEqual([zero.runAsUser, zero.runAsGroup, zero.fsGroup, zero.runAsNonRoot], expected);
  const unset = podContext({});
  assert.deepEqual([unset.runAsUser, unset.runAsGroup, unset.fsGroup, unset.runAsNonRoot], expected);
});
test('container identity: UID 0 becomes the profile UID, a non-root UID is kept, an unset one stays unset', () => {
  assert.equal(containerContext({ runAsUser: 0 }).runAsUser, profile.runAsUser);
  assert.equal(containerContext({ runAsUser: 1234 }).runAsUser, 1234);
  assert.equal('runAsUser' in containerContext({}), false);
  assert.equal(containerContext({ runAsNonRoot: false }).runAsNonRoot, true);
});

/** Class: seccomp. Localhost (with its profile) stays at either level; anything else is exactly RuntimeDefault. */
test('seccomp: Localhost is kept, Unconfined and unset become { type: RuntimeDefault }, at pod and container level', () => {
  const local = { type: 'Localhost', localhostProfile: 'profiles/step.json' };
  assert.deepEqual(podContext({ seccompProfile: local }).seccompProfile, local);
  assert.deepEqual(containerContext({ seccompProfile: local }).seccompProfile, local);
  for (const given of [{ type: 'Unconfined' }, undefined]) {
    assert.deepEqual(podContext({ seccompProfile: given }).seccompProfile, { type: 'RuntimeDefault' });
    assert.deepEqual(containerContext({ seccompProfile: given }).seccompProfile, { type: 'RuntimeDefault' });
  }
});

/** Class: fields mutate must not invent. A pod that does not set procMount, windowsOptions or mounts gets none. */
test('procMount, windowsOptions and volumeMounts are not added where the pod has none', () => {
  const { pod } = mutate(podWith({}), profile);
  const sc = pod.spec?.containers[0]?.securityContext ?? {};
  assert.equal('procMount' in sc, false);
  assert.equal('windowsOptions' in sc, false);
  assert.equal('windowsOptions' in (pod.spec?.securityContext ?? {}), false);
  assert.equal('volumeMounts' in (pod.spec?.containers[0] ?? {}), false);
  assert.equal('volumes' in (pod.spec ?? {}), false);
  assert.deepEqual(pod.metadata, { name: 'p' }, 'no annotations key appears');
  assert.equal(containerContext({ procMount: 'Unmasked' }).procMount, 'Default');
  assert.deepEqual(containerContext({ windowsOptions: { runAsUserName: 'u' } }).windowsOptions, {
    runAsUserName: 'u',
  });
});

test('a pod without spec or metadata is hardened, not a TypeError', () => {
  const { pod } = mutate({}, profile);
  assert.deepEqual(pod.spec?.containers, []);
  assert.equal(pod.spec?.securityContext?.runAsNonRoot, true);
  assert.equal(pod.metadata, undefined);
});

/** Class: pod-level switches the runner always sets (no service-account token, no service env, no host user namespace). */
test('the service-account token and service links are off; hostUsers true is dropped, hostUsers false (a user namespace) is kept', () => {
  const on = mutate(
    podWith({ automountServiceAccountToken: true, enableServiceLinks: true, hostUsers: true }),
    profile,
  );
  assert.equal(on.pod.spec?.automountServiceAccountToken, false);
  assert.equal(on.pod.spec?.enableServiceLinks, false);
  assert.equal('hostUsers' in (on.pod.spec ?? {}), false);
  assert.equal(mutate(podWith({ hostUsers: false }), profile).pod.spec?.hostUsers, false);
});

/** Class: NET_BIND_SERVICE is the one capability that may come back, and only when the pod asked for it. */
test('allowNetBindService adds nothing the container did not ask for', () => {
  for (const add of [['SYS_ADMIN'], [], undefined]) {
    const caps = containerContext(
      { capabilities: add === undefined ? undefined : { add } },
      {
        ...profile,
        allowNetBindService: true,
      },
    ).capabilities;
    assert.deepEqual(caps, { drop: ['ALL'] }, JSON.stringify(add));
  }
});

/**
 * Class: readOnlyRootFilesystem. With the profile on, every container's root is read-only and gets
 * a writable emptyDir at /tmp (one volume, a valid name, its mount pointing at it), unless the
 * container already mounts something at /tmp or the pod already has that volume. With it off, the
 * pod's own setting is left alone.
 */
test('readOnlyRootFilesystem on: read-only roots and one writable /tmp emptyDir mounted in every container', () => {
  const { pod } = mutate(podWith({ initContainers: [{ name: 'i', image: 'i' }] }), readOnly);
  const volumes = pod.spec?.volumes ?? [];
  assert.equal(volumes.length, 1);
  const tmp = volumes[0];
  assert.match(tmp?.name ?? '', /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a valid volume name');
  assert.deepEqual(tmp?.emptyDir, { sizeLimit: readOnly.tmpSize }, 'bounded by runner.storage.tmpSize');
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true, c.name);
    assert.deepEqual(c.volumeMounts, [{ name: tmp?.name, mountPath: '/tmp' }], c.name);
  }
  const again = mutate(pod, readOnly).pod;
  assert.equal(again.spec?.volumes?.length, 1, 'the /tmp volume is not added twice');
});
test('readOnlyRootFilesystem on: a pod with volumes and mounts of its own still gets the /tmp volume and mount', () => {
  const data = { name: 'data', mountPath: '/data' };
  const { pod } = mutate(
    podWith({ volumes: [{ name: 'data', emptyDir: { sizeLimit: '2Gi' } }] }, { volumeMounts: [data] }),
    readOnly,
  );
  const volumes = pod.spec?.volumes ?? [];
  assert.equal(volumes.length, 2, 'its own volume and the /tmp emptyDir');
  const tmp = volumes.find((v) => v.name !== 'data');
  assert.deepEqual(tmp?.emptyDir, { sizeLimit: readOnly.tmpSize }, 'bounded by runner.storage.tmpSize');
  assert.deepEqual(pod.spec?.containers[0]?.volumeMounts, [data, { name: tmp?.name, mountPath: '/tmp' }]);
});
test('readOnlyRootFilesystem on: a container that mounts its own volume at /tmp gets no second /tmp', () => {
  const own = { name: 'scratch', mountPath: '/tmp' };
  const { pod } = mutate(
    podWith({ volumes: [{ name: 'scratch', emptyDir: { sizeLimit: '2Gi' } }] }, { volumeMounts: [own] }),
    readOnly,
  );
  assert.deepEqual(pod.spec?.containers[0]?.volumeMounts, [own]);
});
test('readOnlyRootFilesystem off: the container keeps its own setting and no /tmp volume is added', () => {
  assert.equal(containerContext({ readOnlyRootFilesystem: false }).readOnlyRootFilesystem, false);
  assert.equal('readOnlyRootFilesystem' in containerContext({}), false);
  assert.equal('volumes' in (mutate(podWith({}), profile).pod.spec ?? {}), false);
});
