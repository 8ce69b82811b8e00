import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { mutate, type RestrictedProfile } from '../../src/mutate/restricted.ts';
import { arbitraryPod } from '../support/pod-arbitrary.ts';
import { restrictedViolations } from '../support/restricted-check.ts';

const profile: RestrictedProfile = { runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, allowNetBindService: false, readOnlyRootFilesystem: false };
const profiles = fc.record({ runAsUser: fc.constantFrom(1000, 65532), runAsGroup: fc.constant(1000), fsGroup: fc.constant(1000), allowNetBindService: fc.boolean(), readOnlyRootFilesystem: fc.boolean() });

test('mutate: any pod comes out restricted (independent checker)', () => {
  fc.assert(fc.property(arbitraryPod, profiles, (pod, p) => {
    assert.deepEqual(restrictedViolations(mutate(pod, p).pod), []);
  }), { numRuns: 500 });
});

test('mutate is idempotent: mutating twice equals mutating once, with an empty second patch', () => {
  fc.assert(fc.property(arbitraryPod, profiles, (pod, p) => {
    const once = mutate(pod, p);
    const twice = mutate(once.pod, p);
    assert.deepEqual(twice.pod, once.pod);
    assert.deepEqual(twice.patch, []);
  }), { numRuns: 500 });
});

test('mutate leaves fields outside security settings untouched and does not modify its input', () => {
  fc.assert(fc.property(arbitraryPod, (pod) => {
    const before = structuredClone(pod);
    const out = mutate(pod, profile).pod;
    assert.deepEqual(pod, before, 'input not modified');
    assert.deepEqual(out.metadata, pod.metadata);
    assert.equal(out.spec?.restartPolicy, pod.spec?.restartPolicy);
    assert.deepEqual(out.spec?.containers.map((c) => [c.name, c.image, c.command, c.env]), pod.spec?.containers.map((c) => [c.name, c.image, c.command, c.env]));
  }), { numRuns: 300 });
});

test('mutate returns the JSON Patch it applied', () => {
  const pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'step', image: 'python:3.11', securityContext: { privileged: true } }] } };
  const { patch } = mutate(pod, profile);
  assert.ok(patch.some((op) => op.op === 'replace' && op.path === '/spec/containers/0/securityContext/privileged'));
  assert.ok(patch.some((op) => op.path === '/spec/securityContext'));
});

test('NET_BIND_SERVICE survives only when the profile allows it', () => {
  const pod = { spec: { containers: [{ name: 'c', image: 'i', securityContext: { capabilities: { add: ['NET_BIND_SERVICE', 'SYS_ADMIN'] } } }] } };
  assert.deepEqual(mutate(pod, profile).pod.spec?.containers[0]?.securityContext?.capabilities, { drop: ['ALL'] });
  assert.deepEqual(mutate(pod, { ...profile, allowNetBindService: true }).pod.spec?.containers[0]?.securityContext?.capabilities, { drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
});
